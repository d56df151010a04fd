"""`appliance restore SRC`."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace a home that is not empty; the current one is kept aside, not deleted.",
)
@pass_app
def command(app: AppContext, src: Path, force: bool) -> None:
    """Restore the backup in SRC as the data home, every file checked against its manifest.

    Stop the service first. The store is migrated to this version's schema.
    """
    from appliance.backup import restore_home
    from appliance.cli.steps import stepper

    report = restore_home(src, app.home, force=force, progress=stepper(), actor=app.settings.actor)
    click.echo(
        f"restored {report.files:,} files ({report.bytes / 1e6:,.1f} MB) from the backup of "
        f"{report.backup_created_at or 'unknown date'} into {report.home}; "
        f"store schema version {report.schema_version}"
    )
    if report.replaced is not None:
        click.echo(f"  the previous home is kept at {report.replaced}; delete it when satisfied")
