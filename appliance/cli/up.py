"""`appliance up`: the appliance as one supervised service, until SIGTERM or Ctrl-C.

The edge between the appliance core and the services that call into it: the
scheduler (and, with issues 5 and 7, the REST API and the Flight SQL endpoint) are
imported inside the command and started by ``scheduler.service.supervise``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from scheduler.config import ApplianceConfig
    from scheduler.service import Service

__all__ = ["command"]


@click.command("up")
@click.option(
    "--log-format",
    type=click.Choice(["plain", "json"]),
    default=None,
    help="Override [service] log_format in appliance.toml.",
)
@pass_app
def command(app: AppContext, log_format: str | None) -> None:
    """Run the appliance as one service: the scheduler runs the jobs in appliance.toml.

    Logs go to stdout, one line per job run and per error (plain or JSON). SIGTERM or
    Ctrl-C stops it gracefully: nothing new starts, a running job gets the
    [service] shutdown_timeout to finish, else it is stopped and marked interrupted,
    and the next start runs it again. One `appliance up` per home.
    """
    import logging

    from appliance.doctor import ServiceLock
    from scheduler.config import load_config
    from scheduler.logs import logging_to
    from scheduler.service import supervise

    config = load_config(app.home)
    app.store().close()  # the store exists and is migrated before anything runs
    lock = ServiceLock(app.home)
    lock.acquire(
        {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(),
            "host": config.service.host,
            "ports": [p for _what, _key, p in config.service.ports],
        }
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stop.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        with logging_to(sys.stdout, log_format or config.service.log_format):
            log = logging.getLogger("appliance")
            log.info(f"appliance up on {app.home.root} (pid {os.getpid()}; {config.origin})")
            status = supervise(_services(app, config), stop, log, config.service.shutdown_timeout_s)
            log.info("appliance up: stopped", extra={"fields": {"event": "stopped"}})
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()
    if status:
        raise click.exceptions.Exit(status)


def _services(app: AppContext, config: ApplianceConfig) -> list[Service]:
    """What `appliance up` runs, started in this order and stopped in reverse."""
    from appliance.serving.service import build_service
    from connectors.flightsql.service import FlightService, home_tls
    from scheduler.runner import Runner

    service = config.service
    cert, key = home_tls(app.home) or (None, None)  # the home's tls/ pair: both speak TLS
    rest = build_service(app.home, host=service.host, port=service.api_port, tls_cert=cert,
                         tls_key=key)  # fmt: skip
    return [
        Runner(app.home, config),
        rest,
        FlightService.for_home(app.home, host=service.host, port=service.flight_port),
    ]
