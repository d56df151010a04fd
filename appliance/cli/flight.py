"""`appliance flight`: the Arrow Flight SQL endpoint on its own (``appliance up`` runs it
beside the REST API and the scheduler)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("flight")
@click.option("--host", default=None, help="Address to listen on (default: [service] host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: [service] flight_port in appliance.toml; 0 picks one).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM certificate (with --tls-key): serve grpc+tls.")  # fmt: skip
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM private key for --tls-cert.")  # fmt: skip
@pass_app
def command(app: AppContext, host: str | None, port: int | None, tls_cert: Path | None,
            tls_key: Path | None) -> None:  # fmt: skip
    """Serve the published tables read-only over Arrow Flight SQL (ADBC, JDBC, pyarrow).

    Clients log in with a username (the key's name or id) and an API key of role analyst
    (`appliance keys create --role analyst`). Serves what `appliance publish` last wrote;
    a later publish is picked up by the next query. Stops cleanly on SIGTERM or Ctrl-C.
    """
    from connectors.flightsql.service import FlightService
    from scheduler.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    service_config = load_config(app.home).service
    app.store().close()  # migrates the store before the service opens its own connections
    service = FlightService(
        app.home, host=host or service_config.host,
        port=service_config.flight_port if port is None else port,
        tls_cert=tls_cert, tls_key=tls_key,
    )  # fmt: skip
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _s, _f: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}  # fmt: skip
    try:
        service.start()
        click.echo(f"Flight SQL on {service.location} (catalog appliance, schema published)",
                   err=True)  # fmt: skip
        while not stop.wait(0.5):
            pass
        click.echo("stopping", err=True)
        service.stop(10.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
