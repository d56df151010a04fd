"""`appliance lookml`: a LookML project for Looker over the PostgreSQL copy."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("lookml")
@click.option("--connection", default="appliance", show_default=True,
              help="The Looker connection (to the database `publish --to` fills).")
@click.option("--schema", default="appliance", show_default=True,
              help="The PostgreSQL schema the tables are in (publish --pg-schema).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the project (default: publish/lookml in the home).")
@pass_app
def command(app: AppContext, connection: str, schema: str, out: Path | None) -> None:
    """Write a LookML project: one view per published table (typed dimensions, time
    dimension groups, count and measures such as average score, approval rate and bad
    rate), explores joining scores to model versions, and a monitoring dashboard."""
    from connectors.lookml import project, write_project

    folder = out if out is not None else app.home.dir("publish") / "lookml"
    written = write_project(project(connection, schema), folder)
    click.echo(f"wrote {len(written)} LookML files to {folder} (connection {connection!r},"
               f" schema {schema})")  # fmt: skip
