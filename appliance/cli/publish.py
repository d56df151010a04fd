"""`appliance publish`: the published tables as Tableau Hyper extracts and Parquet under
the home's publish/, and optionally into a PostgreSQL database."""

from __future__ import annotations

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("publish")
@click.option("--full", is_flag=True, help="Rebuild every extract from scratch.")
@click.option("--to", "target", metavar="postgresql://...",
              help="Also copy the published tables into this PostgreSQL database.")
@click.option("--pg-schema", default="appliance", show_default=True,
              help="PostgreSQL schema the tables go into (with --to).")
@pass_app
def command(app: AppContext, full: bool, target: str | None, pg_schema: str) -> None:
    """Write one .hyper extract per subject area (scores, models, operations) under
    publish/, appending new score rows since the last publish (--full rebuilds), read
    each back and check its counts and sums against the store, then swap it in
    atomically. The tables and their columns are in docs/connectors.md."""
    from appliance.cli.steps import stepper
    from connectors.publisher import publish

    if target is not None:
        from connectors.postgres import check_url

        check_url(target)  # before anything is written
    step = stepper()
    db = app.store()
    try:
        report = publish(app.home, db, full=full, progress=step, actor=app.settings.actor)
        if target is not None:
            from connectors.postgres import publish_postgres

            copied = publish_postgres(app.home, target, schema=pg_schema, full=full,
                                      progress=step)  # fmt: skip
    finally:
        db.close()
    for subject in report.subjects:
        tables = ", ".join(f"{t.name} {t.rows}" for t in subject.tables)
        click.echo(f"{subject.path.name}: version {subject.version}, {subject.mode},"
                   f" +{subject.rows_added} rows ({tables})")  # fmt: skip
    if report.skipped:
        click.echo(f"not published yet (their store tables do not exist):"
                   f" {', '.join(report.skipped)}")  # fmt: skip
    if target is not None:
        click.echo(f"PostgreSQL schema {pg_schema}: " + ", ".join(
            f"{name} {rows}" for name, rows in copied.items()))  # fmt: skip
    click.echo(f"published in {report.seconds:.1f}s")
