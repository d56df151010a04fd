"""`appliance demo`: a fresh home, the demo data, the whole life cycle once.

It grows as the life cycle does: today it generates, ingests, profiles and verifies
the audit chain; training, compiling, scoring, drift and publishing join it as they land.
"""

from __future__ import annotations

import time

import click

from appliance.cli.context import AppContext, pass_app
from appliance.errors import HomeError

__all__ = ["command"]

# dataset -> target column for its profile report
PROFILES = {
    "credit_applications": "defaulted",
    "fraud_transactions": "is_fraud",
    "bank_insurance_conversion": "converted",
}


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=100), default=None, help="Customers to generate.")
@click.option("--seed", type=int, default=7, show_default=True)
@pass_app
@click.pass_context
def command(ctx: click.Context, app: AppContext, rows: int | None, seed: int) -> None:
    """Fresh home, demo data, the whole life cycle once; then says where to look."""
    from appliance import audit, demo
    from appliance.cli.home_cmds import command as init_command
    from appliance.cli.ingest import sweep_inbox
    from appliance.cli.profile import command as profile_command

    home = app.home
    if home.is_initialised and any(home.dir("lake").iterdir()):
        raise HomeError(
            f"{home.root} already holds data; `appliance demo` wants a fresh home: "
            "pass a new --home DIR"
        )
    started = time.perf_counter()
    _step("1/4 laying out the data home")
    ctx.invoke(init_command)
    db = app.store()
    _step("2/4 generating demo data")
    demo.generate(home.dir("inbox"), rows=rows or demo.DEFAULT_ROWS, seed=seed, progress=_step)
    _step("3/4 ingesting the inbox")
    results = sweep_inbox(app, db)
    _step("4/4 profiling the outcome datasets")
    for dataset, target in PROFILES.items():
        ctx.invoke(profile_command, dataset=dataset, target=target)
    report = audit.verify(db)
    total_in = sum(r.run.rows_in for r in results)
    total_q = sum(r.run.rows_quarantined for r in results)
    click.echo("")
    click.secho(f"demo done in {time.perf_counter() - started:.1f}s", bold=True)
    click.echo(f"  ingested {len(results)} files: {total_in:,} rows in, {total_q:,} quarantined")
    click.echo(f"  audit chain: {'intact' if report.ok else 'BROKEN'} ({report.entries} entries)")
    click.echo("where to look:")
    click.echo(f"  lake        {home.dir('lake')}   (appliance --home {home.root} datasets)")
    click.echo(f"  quarantine  {home.dir('quarantine')}")
    click.echo(f"  profiles    {home.dir('publish') / 'profiles'}")


def _step(message: str) -> None:
    click.echo(f"[demo] {message}", err=True)
