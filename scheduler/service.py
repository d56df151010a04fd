"""``appliance up``'s supervision: services started in order, stopped in reverse.

A service is anything with a ``name``, ``start()`` and ``stop(timeout)``; the
scheduler's Runner is one, the REST API and the Flight SQL endpoint join with one
line each in ``appliance.cli.up``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Service", "supervise"]


class Service(Protocol):
    @property
    def name(self) -> str: ...

    def start(self) -> Any:
        """Begin serving; return once started (raise if it cannot)."""
        ...

    def stop(self, timeout: float) -> Any:
        """Stop accepting work, finish or hand back what is in flight within ``timeout``."""
        ...


def supervise(
    services: Sequence[Service], stop: threading.Event, log: logging.Logger, timeout: float
) -> int:
    """Start every service, wait for ``stop``, stop them in reverse; returns an exit status
    (0 after a clean stop, 1 when a service could not start or stop)."""
    started: list[Service] = []
    status = 0
    try:
        for service in services:
            service.start()
            started.append(service)
            log.info(f"{service.name} started", extra={"fields": {"service": service.name}})
        log.info("appliance up: running; SIGTERM or Ctrl-C stops it")
        while not stop.wait(1.0):
            pass
        log.info("stopping: no new work is accepted", extra={"fields": {"event": "stopping"}})
    except Exception as exc:
        log.error(f"could not start: {exc}", extra={"fields": {"event": "start-failed"}})
        status = 1
    for service in reversed(started):
        try:
            service.stop(timeout)
            log.info(f"{service.name} stopped", extra={"fields": {"service": service.name}})
        except Exception as exc:
            log.error(f"{service.name} did not stop cleanly: {exc}")
            status = 1
    return status
