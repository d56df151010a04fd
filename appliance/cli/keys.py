"""`appliance keys create|list|revoke`: the API keys the REST service accepts."""

from __future__ import annotations

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]

ROLE_CHOICES = ("scorer", "analyst", "admin")  # appliance.access.ROLES, kept cheap


@click.group("keys")
def command() -> None:
    """Create, list and revoke API keys (scorer, analyst or admin)."""


@command.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES),
              help="scorer: score and report outcomes; analyst: read models and "
                   "monitoring; admin: everything.")
@click.option("--name", required=True, help="Who or what uses the key (e.g. 'branch 12 app').")
@pass_app
def create(app: AppContext, role: str, name: str) -> None:
    """Create a key and print it once; only its salted hash is kept."""
    from appliance.access import create_key

    key, plaintext = create_key(app.store(), role, name, actor=app.settings.actor)
    click.echo(plaintext)
    click.echo(
        f"created key {key.id} ({key.role}, {key.name!r}). Copy the key above now: it is"
        " shown only this once and cannot be recovered; if it is lost, revoke it"
        f" (`appliance keys revoke {key.id}`) and create another.",
        err=True,
    )


@command.command("list")
@pass_app
def list_cmd(app: AppContext) -> None:
    """Every key: id, name, role, created, revoked, last used (never the secret)."""
    from appliance.access import list_keys

    keys = list_keys(app.store())
    if not keys:
        click.echo("no API keys yet: `appliance keys create --role scorer --name NAME`")
        return
    rows = [("id", "role", "created", "revoked", "last used", "name")]
    for key in keys:
        revoked = f"{key.revoked_at[:19]} by {key.revoked_by}" if key.revoked_at else "-"
        rows.append((key.id, key.role, f"{key.created_at[:19]} by {key.created_by}", revoked,
                     (key.last_used_at or "never")[:19], key.name))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                   + "  " + row[5])


@command.command("revoke")
@click.argument("key_id")
@pass_app
def revoke(app: AppContext, key_id: str) -> None:
    """Revoke KEY_ID for good; a running service refuses it within seconds."""
    from appliance.access import revoke_key

    key = revoke_key(app.store(), key_id, actor=app.settings.actor)
    click.echo(f"revoked key {key.id} ({key.role}, {key.name!r}) at {key.revoked_at}")
