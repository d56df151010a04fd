"""Faults around the scoring service, with real processes: `appliance serve` killed with
SIGKILL while it answers and logs predictions; a booster corrupted on disk; a compiled
library that cannot be loaded. After each: the store passes ``PRAGMA integrity_check``,
the last good model serves, the audit chain verifies, and the fault is on record (the
service log, `appliance doctor`, the scorer's reason).

Covered elsewhere: the prediction log's own loss bound under kill -9
(tests/test_serving_predlog.py::test_kill_9_loses_at_most_the_last_flush_interval), a
library whose bytes changed (tests/test_scoring.py), a hung compiler
(tests/test_compiled_models.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from appliance import audit, registry
from appliance.access import create_key
from appliance.home import DataHome
from appliance.scoring import load_scorer
from appliance.store.db import connect
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import (  # noqa: F401
    APPLICANT,
    MODEL,
    REPO,
    Running,
    Server,
    free_port,
    predictions,
    register_copy,
    trained_home,
    until,
)

pytestmark = pytest.mark.slow

FLUSH_S, SLACK_S = 0.1, 1.0  # the log's flush interval; commit and scheduling on a busy box


def store_is_sound(home: DataHome) -> None:
    db = connect(home.db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert audit.verify(db).ok
    finally:
        db.close()


def test_kill_9_while_answering_loses_at_most_the_last_flush_and_the_model_serves_again(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    db = connect(home.db_path)
    key = create_key(db, "scorer", "load", actor="test")[1]
    db.close()
    server = Server(home, tmp_path / "serve.log")
    answered: dict[str, float] = {}
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as http:  # fmt: skip
            i = 0
            while not stop.is_set():
                record = {**APPLICANT, "application_id": f"AP{worker}{i % 1000000:06d}"}
                try:
                    reply = http.post(f"/v1/models/{MODEL}/score", json=record)
                except httpx.HTTPError:
                    return  # the server is gone
                if reply.status_code == 200:
                    answered[reply.json()["request_id"]] = time.monotonic()
                i += 1

    clients = [threading.Thread(target=client, args=(w,)) for w in range(1, 5)]
    for t in clients:
        t.start()
    try:
        until(lambda: len(answered) >= 100, 60)
    finally:
        killed_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(30)
        stop.set()
        for t in clients:
            t.join(30)
    store_is_sound(home)
    rows = predictions(home)
    logged = [r["request_id"] for r in rows if r["served"]]
    assert len(logged) == len(set(logged))  # exactly once
    assert set(logged) <= set(answered)  # nothing logged that no caller was answered
    for row in rows:  # every row whole
        assert row["model"] == MODEL and row["version"] == 1 and row["key_id"]
        assert json.loads(row["features"]) and json.loads(row["input"])["customer_id"]
    lost = [at for rid, at in answered.items() if rid not in set(logged)]
    assert all(at > killed_at - FLUSH_S - SLACK_S for at in lost), (
        f"{len(lost)} of {len(answered)} answers unlogged, the oldest "
        f"{killed_at - min(lost):.2f} s before the kill")  # fmt: skip
    again = Server(home, tmp_path / "serve-2.log")  # the last good model serves again
    try:
        reply = httpx.post(f"{again.url}/v1/models/{MODEL}/score", json=APPLICANT,
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
        assert reply.status_code == 200 and reply.json()["version"] == 1
    finally:
        again.stop()
    assert len([r for r in predictions(home) if r["served"]]) == len(logged) + 1
    store_is_sound(home)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupted_booster_never_replaces_the_served_model_and_is_named(
    trained_home: DataHome, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    good = register_copy(home)
    service = Running(home)
    try:
        _corrupt(home.root / "models" / MODEL / "2" / "model.ubj")
        refused = service.call("POST", f"/v1/models/{MODEL}/promote", role="admin",
                               json={"version": 2, "reason": "corrupted on disk"})  # fmt: skip
        assert refused.status_code == 409, refused.text  # promotion loads the booster first
        assert "was changed after registration" in refused.json()["detail"]
        assert service.score(APPLICANT).json()["version"] == 1
        promoted = service.call("POST", f"/v1/models/{MODEL}/promote", role="admin",
                                json={"version": good, "reason": "a good one"})  # fmt: skip
        assert promoted.status_code == 200, promoted.text
        until(lambda: service.score(APPLICANT).json()["version"] == good, 20)
        _corrupt(home.root / "models" / MODEL / "1" / "model.ubj")  # damaged after the fact
        with caplog.at_level(logging.ERROR, logger="appliance.serving"):
            back = service.call("POST", f"/v1/models/{MODEL}/rollback", role="admin",
                                json={"reason": "back to v1"})  # fmt: skip
            assert back.status_code == 200, back.text
            until(lambda: "reloading models failed" in caplog.text, 20)
            for _ in range(3):
                reply = service.score(APPLICANT)
                assert reply.status_code == 200 and reply.json()["version"] == good
        assert "was changed after registration" in caplog.text  # the log says what and why
    finally:
        service.stop()
    store_is_sound(home)
    command = [sys.executable, "-m", "appliance", "--home", str(home.root), "serve", "--port",
               str(free_port())]  # fmt: skip
    start = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    # a restart refuses to serve what production names, in one line
    assert start.returncode == 8, start.stderr
    assert "was changed after registration" in start.stderr and "Traceback" not in start.stderr


def _unloadable_library(home: DataHome, version: int, kind: str) -> str:
    """Replace the version's library with one that cannot load here, and record its hash as
    if the appliance had built it (a library restored onto a box it does not run on)."""
    db = connect(home.db_path)
    try:
        mv = registry.get_version(db, MODEL, version)
        record = dict(mv.compile or {})
        library = home.inside(record["library"])
        if kind == "garbage":
            library.write_bytes(b"\x7fELF" + os.urandom(4096))
        else:  # a real shared library, but not one of ours: no appliance entry points
            if shutil.which(os.environ.get("CC", "gcc")) is None:
                pytest.skip("no C compiler to build a foreign library")
            source = library.with_suffix(".c")
            source.write_text("int something_else(void) { return 42; }\n")
            subprocess.run([os.environ.get("CC", "gcc"), "-shared", "-fPIC", "-o", str(library),
                            str(source)], check=True)  # fmt: skip
        import hashlib

        record["library_sha256"] = hashlib.sha256(library.read_bytes()).hexdigest()
        registry.record_compile(db, MODEL, version, record, actor="test")
        return str(library)
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["garbage", "no entry points"])
def test_a_library_that_will_not_load_falls_back_to_xgboost_and_says_why(
    trained_home: DataHome, tmp_path: Path, kind: str  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    _unloadable_library(home, 2, kind)
    db = connect(home.db_path)
    loaded = load_scorer(home, db, MODEL, "2")
    db.close()
    assert loaded.scorer.kind == "xgboost"
    assert "compiled library not loaded" in loaded.scorer.reason
    if kind == "no entry points":
        assert "lacks the appliance entry points" in loaded.scorer.reason
    store_is_sound(home)


def test_a_promoted_version_whose_library_will_not_load_serves_through_xgboost(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    _unloadable_library(home, 2, "garbage")
    service = Running(home)
    try:
        before = service.score(APPLICANT).json()
        assert (before["version"], before["scorer"]) == (1, "native")
        promoted = service.call("POST", f"/v1/models/{MODEL}/promote", role="admin",
                                json={"version": 2, "reason": "library restored"})  # fmt: skip
        assert promoted.status_code == 200, promoted.text
        until(lambda: service.score(APPLICANT).json()["version"] == 2)
        after = service.score(APPLICANT).json()
        assert after["scorer"] == "xgboost"
        assert abs(after["probability"] - before["probability"]) < 1e-6  # same model, same answer
        metrics = service.call("GET", "/metrics", role="analyst").text
        assert 'alias="production"' in metrics and 'scorer="xgboost"' in metrics
    finally:
        service.stop()
    store_is_sound(home)
    from appliance.doctor import CHECKS, DoctorContext, run_checks

    [model] = [r for r in run_checks(DoctorContext(home), CHECKS)
               if r.name == f"model {MODEL}/2"]  # fmt: skip
    assert model.status == "warn" and "compiled library not loaded" in model.detail

