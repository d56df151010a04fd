"""`appliance tls self-signed`: a certificate and key for serving HTTPS in a lab."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.group("tls")
def command() -> None:
    """TLS certificates for the REST service."""


@command.command("self-signed")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for cert.pem and key.pem (created if missing).")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="A DNS name or IP address clients will use; repeat for more "
                   "(default: localhost, 127.0.0.1, ::1 and this machine's name).")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650),
              help="How long the certificate is valid.")
@click.option("--force", is_flag=True, help="Replace an existing cert.pem/key.pem.")
def self_signed_cmd(out: Path, hosts: tuple[str, ...], days: int, force: bool) -> None:
    """Write a self-signed cert.pem and key.pem (0600) for a lab; use a certificate from
    the bank's own CA in production."""
    from appliance.access.tls import default_hosts, self_signed, write_pair

    pair = self_signed(hosts or default_hosts(), days=days)
    cert, key = write_pair(pair, out, force=force)
    click.echo(f"wrote {cert} and {key} (owner-only), valid until "
               f"{pair.not_after:%Y-%m-%d} for {', '.join(pair.hosts)}")
    click.echo(f"SHA-256 fingerprint {pair.sha256}")
    click.echo(f"clients trust it with cafile={cert} (e.g. curl --cacert {cert});"
               " it is self-signed: for a lab, not for production")
