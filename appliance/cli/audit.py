"""`appliance audit show|verify`."""

from __future__ import annotations

import click

from appliance.cli.context import AppContext, pass_app
from appliance.errors import AuditChainBroken

__all__ = ["command"]


@click.group("audit")
def command() -> None:
    """The hash-chained audit log."""


@command.command("verify")
@pass_app
def verify(app: AppContext) -> None:
    """Recompute the chain; name the first entry that was edited or deleted."""
    from appliance import audit

    report = audit.verify(app.store())
    if not report.ok:
        raise AuditChainBroken(
            f"audit chain broken at entry {report.first_broken}: {report.problem} "
            f"({report.entries} entries read)"
        )
    click.echo(f"audit chain intact: {report.entries} entries verified")


@command.command("show")
@click.option("--last", default=20, show_default=True, help="How many of the newest entries.")
@pass_app
def show(app: AppContext, last: int) -> None:
    """Print the newest entries."""
    rows = (
        app.store()
        .execute(
            "SELECT seq, at, actor, action, subject FROM audit_log ORDER BY seq DESC LIMIT ?",
            [last],
        )
        .fetchall()
    )
    for seq, at, actor, action, subject in reversed(rows):
        click.echo(f"{seq:>6}  {at}  {actor:<12} {action:<20} {subject}")
