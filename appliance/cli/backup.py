"""`appliance backup DEST`."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@pass_app
def command(app: AppContext, dest: Path) -> None:
    """Snapshot the data home into DEST (a new folder) while the service runs.

    The store is copied with SQLite's online backup, then the files; every file is
    hashed into DEST/MANIFEST.sha256. `appliance restore DEST` brings it back.
    """
    from appliance.backup import backup_home
    from appliance.cli.steps import stepper

    report = backup_home(app.home, dest, progress=stepper(), actor=app.settings.actor)
    click.echo(
        f"backup of {app.home.root} written to {report.dest}: {report.files:,} files, "
        f"{report.bytes / 1e6:,.1f} MB, store schema version {report.schema_version}"
    )
    click.echo(f"  left out on purpose: {', '.join(report.skipped)}")
