"""Putting the scoring service together: engine, prediction log, key cache, metrics,
the Litestar app and the uvicorn server that runs it (`appliance serve`, and the REST
part of `appliance up`)."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.home import DataHome
from appliance.serving.app import ServiceOptions, create_app
from appliance.serving.engine import Engine

__all__ = ["RestService", "build_service", "log_sink", "logged_engine"]

log = logging.getLogger("appliance.serving")


def log_sink(prediction_log: Any) -> Any:
    """The engine's log records as prediction-log entries (built here, written off-thread)."""
    from appliance.serving.predlog import PredictionRecord

    def sink(r: Mapping[str, Any]) -> None:
        prediction_log.submit(PredictionRecord(
            request_id=r["request_id"], model=r["model"], version=r["version"], role=r["role"],
            served=r["served"], input=r["input"], features=r["features"],
            probability=r.get("probability"), decision=r["decision"],
            kind=r.get("kind", "classification"), prediction=r.get("prediction"),
            latency_ms=r.get("latency_ms", 0.0), score=r.get("score"), reasons=r["reasons"],
            entity_id=r.get("entity_id"), application_id=r.get("application_id"),
            key_id=r.get("key_id") or None,
        ))  # fmt: skip

    return sink


@contextmanager
def logged_engine(home: DataHome, db: Any) -> Iterator[Engine]:
    """An engine serving every production model whose answers go to the prediction log,
    for scoring outside the REST service (batch files, the demo); the log is flushed
    when the block ends."""
    from appliance.serving.predlog import PredictionLog

    prediction_log = PredictionLog(home.db_path).start()
    try:
        engine = Engine(home, db, sink=log_sink(prediction_log))
        engine.refresh()
        yield engine
    finally:
        prediction_log.close()


@dataclass
class RestService:
    """The REST API as one service of `appliance up` (``start`` returns once it listens,
    ``stop`` drains it), or on its own with ``run`` (blocks; SIGTERM and Ctrl-C stop it)."""

    app: Any
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    name: str = "rest api"
    _server: Any = None
    _thread: threading.Thread | None = None

    def _make(self) -> Any:
        import uvicorn

        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, access_log=False,
            lifespan="on", timeout_graceful_shutdown=10,
            ssl_certfile=str(self.tls_cert) if self.tls_cert else None,
            ssl_keyfile=str(self.tls_key) if self.tls_key else None,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        return self._server

    def run(self) -> None:
        """Serve until SIGTERM or Ctrl-C, drain, and return (so the process exits 0).

        Once drained, uvicorn raises the signal it caught again, which would end the
        process by that signal (status -15) or as a KeyboardInterrupt; a handler of ours
        takes that second delivery, and stops the server should a signal come before
        uvicorn's own handlers are in place."""
        server = self._make()
        if threading.current_thread() is not threading.main_thread():
            server.run()
            return

        def stop(_signum: int, _frame: object) -> None:
            server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start(self, timeout: float = 60.0) -> None:
        server = self._make()
        self._thread = threading.Thread(target=server.run, name="rest-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the REST API did not start on {self.host}:{self.port}")
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let requests in flight finish, flush the log (the app's lifespan)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def build_service(
    home: DataHome, *, host: str = "127.0.0.1", port: int = 8080,
    tls_cert: Path | None = None, tls_key: Path | None = None,
    options: ServiceOptions | None = None, reference_only: bool = False,
) -> RestService:  # fmt: skip
    """Load every served model and wire the service; nothing listens until ``start``."""
    from appliance.access import KeyCache
    from appliance.serving.metrics import ServiceMetrics
    from appliance.serving.predlog import PredictionLog
    from appliance.store.db import connect

    if (tls_cert is None) != (tls_key is None):
        from appliance.errors import HomeError

        raise HomeError("TLS needs both --tls-cert and --tls-key")
    db = connect(home.db_path)
    prediction_log = PredictionLog(home.db_path).start()
    engine = Engine(home, db, sink=log_sink(prediction_log), reference_only=reference_only)
    for change in engine.refresh():
        log.info("serving %s", change)
    # what is loaded now (models, lake tables, feature indexes) lives as long as the
    # service: out of the cyclic collector's sight, a full collection no longer walks it
    gc.collect()
    gc.freeze()
    keys = KeyCache(home.db_path)
    app = create_app(home, engine=engine, prediction_log=prediction_log,
                     metrics=ServiceMetrics(), keys=keys, options=options)  # fmt: skip
    return RestService(app, host, port, tls_cert, tls_key)
