"""`appliance init`."""

from __future__ import annotations

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("init")
@pass_app
def command(app: AppContext) -> None:
    """Lay out the data home: directories, the store, default source schemas."""
    from appliance import audit
    from appliance.store.db import connect

    home = app.home
    created = home.layout()
    db = connect(home.db_path)
    if created:
        audit.record(
            db,
            app.settings.actor,
            "home.init",
            str(home.root),
            {"created": [str(p.relative_to(home.root)) for p in created]},
        )
    click.echo(f"data home ready at {home.root}")
    for path in created:
        click.echo(f"  created {path.relative_to(home.root) if path != home.root else '.'}")
