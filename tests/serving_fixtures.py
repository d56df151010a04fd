"""Shared pieces for tests that run the real scoring service: a trained home built once
per test worker, a service on a loopback port (in this process or as `appliance serve`),
and small helpers to read what the store kept.

Fixtures defined here are imported by the test modules that use them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.access import create_key
from appliance.home import DataHome
from appliance.serving.app import ServiceOptions
from appliance.serving.service import build_service
from appliance.store.db import connect
from tests.lake_fixtures import build_demo_lake, train_credit

__all__ = [
    "APPLICANT",
    "MODEL",
    "REPO",
    "Running",
    "Server",
    "free_port",
    "predictions",
    "register_copy",
    "score_logged",
    "trained_home",
    "until",
]

REPO = Path(__file__).resolve().parents[1]
MODEL = "credit_default"
APPLICANT = {
    "application_id": "AP9000001", "customer_id": "CR0000007", "requested_amount": 5000,
    "term_months": 24, "application_date": "2025-05-01",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    """A service on a free loopback port, in this process, with one key per role."""

    def __init__(self, home: DataHome, refresh_s: float = 0.2) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{free_port()}"
        db = connect(home.db_path)
        self.keys = {role: create_key(db, role, f"test {role}", actor="test")[1]
                     for role in ("scorer", "analyst", "admin")}  # fmt: skip
        db.close()
        options = ServiceOptions(refresh_s=refresh_s, max_body_bytes=2_000_000, max_batch_json=500)
        port = int(self.url.rsplit(":", 1)[1])
        self.service = build_service(home, port=port, options=options)
        self.service.start()

    def call(
        self, method: str, path: str, role: str | None = "scorer", **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if role:
            headers["Authorization"] = f"Bearer {self.keys[role]}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def score(self, record: Any, role: str = "scorer") -> httpx.Response:
        return self.call("POST", f"/v1/models/{MODEL}/score", role, json=record)

    def stop(self) -> None:
        self.service.stop(30)


class Server:
    """`appliance serve` as a process of its own on a free loopback port; its stdout and
    stderr go to ``log_path`` so a test can read what the service logged."""

    def __init__(self, home: DataHome, log_path: Path, *extra: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "appliance", "--home", str(home.root), "serve",
                   "--port", str(self.port), *extra]  # fmt: skip
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"appliance serve exited: {self.log()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"appliance serve did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful: drains and flushes the prediction log); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def score_logged(home: DataHome, db: Any, model: str, table: Any) -> list[dict[str, Any]]:
    """Score lake-typed rows with ``model``'s production version through the engine, as
    the service does; every answer is in the prediction log when this returns."""
    from appliance.serving.service import logged_engine

    with logged_engine(home, db) as engine:
        return engine.score_clean(model, table, ())


def predictions(home: DataHome) -> list[dict[str, Any]]:
    db = connect(home.db_path)
    try:
        return list(db.query("SELECT * FROM predictions ORDER BY at"))
    finally:
        db.close()


def until(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def register_copy(home: DataHome, source: int = 1, *, booster: bytes | None = None,
                  actor: str = "test") -> int:
    """Register a copy of version ``source`` of the credit model as a new version, without
    a second training run: the same files (or ``booster`` in place of the booster file,
    then registered with that file's hash), metrics that name ``source`` as the champion
    it was compared with (so it passes the performance gate against it), and, for an
    unchanged booster, the same compile record with its library path moved along.
    Returns the new version's number."""
    from appliance import registry

    db = connect(home.db_path)
    try:
        mv = registry.get_version(db, MODEL, source)
        staging = registry.make_staging(home, MODEL)
        for item in home.inside(mv.booster_path).parent.iterdir():
            shutil.copy2(item, staging / item.name)
        if booster is not None:
            (staging / Path(mv.booster_path).name).write_bytes(booster)
        metrics = {**mv.metrics, "champion": {"version": source, "test": mv.metrics.get("test")}}
        new = registry.NewModelVersion(
            trained_at=mv.trained_at, duration_s=mv.duration_s, params=mv.params,
            metrics=metrics, feature_schema=mv.feature_schema, datasets=mv.datasets,
            spec=mv.spec, spec_sha256=mv.spec_sha256, code_version=mv.code_version,
            seed=mv.seed, reference=mv.reference, booster_file=Path(mv.booster_path).name,
            card_file=Path(mv.card_path).name if mv.card_path else None,
        )  # fmt: skip
        model = registry.get_model(db, MODEL)
        copy = registry.register(db, home, MODEL, model.usecase, model.description, staging,
                                 new, actor=actor)  # fmt: skip
        if mv.compile and booster is None:
            record = dict(mv.compile)
            if record.get("library"):
                name = Path(record["library"]).name
                record["library"] = f"{Path(copy.booster_path).parent.as_posix()}/{name}"
            registry.record_compile(db, MODEL, copy.version, record, actor=actor)
        return copy.version
    finally:
        db.close()


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    """A demo lake (1,000 customers) with credit_default v1 trained, compiled and in
    production, and v2, a registered copy of it, not promoted. Built once per test run and
    shared by the xdist workers (under a lock); copy it (``copy_home``) before changing it."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, shared by its workers
    target = base / "trained-home"
    with (base / "trained-home.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "ready").exists():
            shutil.rmtree(target, ignore_errors=True)
            home = build_demo_lake(target / "home", rows=1000)
            train_credit(home)
            register_copy(home)
            (target / "ready").touch()
    return DataHome(target / "home")
