"""`appliance datasets [NAME]`."""

from __future__ import annotations

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("datasets")
@click.argument("name", required=False)
@pass_app
def command(app: AppContext, name: str | None) -> None:
    """List datasets in the lake, or show one dataset's versions and ingest runs."""
    from appliance.lake import dataset_versions
    from appliance.store.ingest_records import list_runs, quarantine_counts

    db = app.store()
    if name is None:
        rows = db.execute(
            "SELECT d.name, count(v.id), coalesce(sum(v.rows), 0), min(v.time_min), max(v.time_max)"
            " FROM datasets d LEFT JOIN dataset_versions v ON v.dataset = d.name"
            " GROUP BY d.name ORDER BY d.name"
        ).fetchall()
        if not rows:
            click.echo("no datasets yet: `appliance ingest FILE --source NAME`")
        for dataset, versions, total, low, high in rows:
            span = f"  {low} .. {high}" if low else ""
            click.echo(f"{dataset:<32} {versions:>3} versions {total:>12,} rows{span}")
        return
    for v in dataset_versions(db, name):
        click.echo(
            f"version {v.version[:12]}  {v.rows:>10,} rows  {v.created_at}  from {v.source_file}"
        )
    for run in list_runs(db, name):
        click.echo(
            f"run {run.id:>4} {run.status:<7} {run.source_file}: in={run.rows_in} "
            f"ok={run.rows_ok} quarantined={run.rows_quarantined}"
            + (f"  {run.error}" if run.error else "")
        )
        for item in quarantine_counts(db, run.id)[:3]:
            click.echo(f"           {item.rows:>8} x {item.reason}")
