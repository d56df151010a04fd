"""`appliance demo`: a fresh home, the demo data, the whole life cycle once.

It grows as the life cycle does: today it generates, ingests, profiles, classifies the
satellite tiles, trains the three demo use cases, promotes each through the gates and
verifies the audit chain;
compiling, scoring, drift and publishing join it as they land.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app
from appliance.errors import HomeError

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["command"]

USECASES = ("credit_default", "card_fraud", "insurance_propensity")

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
    from appliance.cli.imagery import command as imagery_command
    from appliance.cli.ingest import sweep_inbox
    from appliance.cli.profile import command as profile_command

    home = app.home
    if home.is_initialised and any(home.dir("lake").iterdir()):
        raise HomeError(
            f"{home.root} already holds data; `appliance demo` wants a fresh home: "
            "pass a new --home DIR"
        )
    started = time.perf_counter()
    _step("1/6 laying out the data home")
    ctx.invoke(init_command)
    db = app.store()
    _step("2/6 generating demo data")
    demo.generate(home.dir("inbox"), rows=rows or demo.DEFAULT_ROWS, seed=seed, progress=_step)
    _step("3/6 ingesting the inbox")
    results = sweep_inbox(app, db)
    _step("4/6 profiling the outcome datasets")
    for dataset, target in PROFILES.items():
        ctx.invoke(profile_command, dataset=dataset, target=target)
    _step("5/6 classifying the satellite tiles into regional hazard labels")
    ctx.invoke(imagery_command)
    _step("6/6 training and promoting the demo use cases")
    trained = [_train_and_promote(app, db, usecase) for usecase in USECASES]
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
    for line in trained:
        click.echo(line)


def _train_and_promote(app: AppContext, db: Database, usecase: str) -> str:
    """Train one use case and ask for production; returns a line saying where its card is."""
    from appliance.registry import promote
    from appliance.registry.promotion import GatesFailed
    from appliance.training import train_usecase
    from appliance.usecase import locate_spec

    spec = locate_spec(app.home, usecase)
    outcome = train_usecase(
        app.home, db, spec, actor=app.settings.actor, progress=lambda m: _step(f"  {m}")
    )
    m, version = outcome.metrics, outcome.version.version
    _step(
        f"  {usecase} v{version}: test AUC {m['test']['roc_auc']:.3f} "
        f"(baseline {m['baseline_test']['roc_auc']:.3f})"
    )
    actor = app.settings.actor
    try:
        promote(db, spec.model_name, version, actor=actor, reason="demo run")
        status = "production (every gate passed)"
    except GatesFailed as exc:
        failed = [g.name for g in exc.report.failed]
        if failed != ["fairness"]:
            return f"  {usecase:<21} v{version} awaiting approval: {exc}"
        # Show the override path a model-risk officer would take; it is audited.
        _step(f"  {usecase}: the fairness gate refused it ({exc})")
        promote(
            db, spec.model_name, version, actor=actor, reason="demo run",
            override_fairness="demo: fairness gap reviewed and accepted for the demonstration",
        )  # fmt: skip
        status = "production (fairness override, audited)"
    return f"  {usecase:<21} v{version} {status}; model card {outcome.card}"


def _step(message: str) -> None:
    click.echo(f"[demo] {message}", err=True)
