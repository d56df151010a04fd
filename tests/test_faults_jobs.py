"""Faults in the appliance's heavy work, with real processes killed by SIGKILL: training
(the retrain job's worker), compiling (the compile worker and its compilers), promotion
(a process stopped inside the transaction), and ingest onto a disk that fills up (a real
tmpfs in a private mount namespace). After each: ``PRAGMA integrity_check`` is ok, the
last good model serves, the audit chain verifies, and the fault is recorded.

Covered elsewhere: kill -9 mid-ingest (tests/test_ingest_faults.py), kill -9 of a job
worker and of the whole service (tests/test_scheduler.py), a hung compiler stopped with
its process group (tests/test_compiled_models.py), a full disk through an injected
writer (tests/test_ingest.py::test_a_full_disk_fails_the_run_cleanly_and_keeps_the_lake).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance import audit, registry
from appliance.errors import PromotionRefused
from appliance.home import DataHome
from appliance.scoring import load_scorer
from appliance.store.db import connect
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import MODEL, REPO, register_copy, trained_home, until  # noqa: F401

pytestmark = pytest.mark.slow


def sound_and_serving(home: DataHome) -> None:
    """The store is intact, the chain verifies, and production v1 loads as compiled."""
    db = connect(home.db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert audit.verify(db).ok
        assert registry.aliases(db, MODEL)["production"] == 1
        loaded = load_scorer(home, db, MODEL)
        assert loaded.version.version == 1 and loaded.scorer.kind == "native"
    finally:
        db.close()


def _processes_in_group(pgid: int) -> list[str]:
    """Command lines of the live processes in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return found


def _children(pid: int, needle: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and needle.encode() in cmdline:
                out.append(int(entry.name))
    return out


# -- training -------------------------------------------------------------------------------


def test_kill_9_of_a_training_worker_is_recorded_and_changes_no_model(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    from scheduler.catalogue import CATALOGUE
    from scheduler.config import parse_config
    from scheduler.outcome import run_log_path
    from scheduler.records import list_alerts, list_runs
    from scheduler.runner import Runner

    home = copy_home(trained_home, tmp_path / "home")
    config = parse_config({"scheduler": {"retry_attempts": 1}, "jobs": {"retrain": {
        "every": "7d", "params": {"usecases": [MODEL], "retrain_unchanged": True}}}},
        "test config", CATALOGUE.keys())  # fmt: skip
    runner = Runner(home, config)
    assert runner.submit("retrain", "manual")
    db = connect(home.db_path)

    def training() -> bool:
        runs = list_runs(db, "retrain")
        if not runs or runs[0].pid is None:
            return False
        log = run_log_path(home, "retrain", runs[0].id)
        return log.exists() and "searching XGBoost" in log.read_text()

    try:
        until(training, 120)
        [run] = list_runs(db, "retrain")
        os.kill(run.pid, signal.SIGKILL)
        assert runner.wait_idle(60)
    finally:
        runner.stop(10)
    [run] = list_runs(db, "retrain")
    assert run.status == "interrupted" and "SIGKILL" in (run.error or "")
    assert [a.run_id for a in list_alerts(db)] == [run.id]  # and alerted
    assert [v.version for v in registry.list_versions(db, MODEL)] == [1, 2]  # nothing half-made
    db.close()
    sound_and_serving(home)


# -- compiling --------------------------------------------------------------------------------


def test_kill_9_of_the_compile_worker_is_recorded_and_xgboost_serves_the_version(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    from appliance.scoring import compile_version

    home = copy_home(trained_home, tmp_path / "home")
    folder = home.root / "models" / MODEL / "2"
    for cached in [folder / "compile.json", *folder.glob("model-*.so")]:
        cached.unlink()  # no cache hit: the worker must really compile
    lines: list[str] = []
    outcome: dict[str, Any] = {}

    def compile_it() -> None:
        db = connect(home.db_path)
        try:
            outcome["version"], outcome["report"] = compile_version(
                home, db, MODEL, "2", actor="test", progress=lines.append, timeout_s=300)
        finally:
            db.close()

    worker_thread = threading.Thread(target=compile_it)
    worker_thread.start()
    try:
        until(lambda: _children(os.getpid(), "compiled_models.worker"), 60)
        [worker] = _children(os.getpid(), "compiled_models.worker")
        until(lambda: len(_processes_in_group(worker)) > 1, 60)  # compilers running
        os.kill(worker, signal.SIGKILL)
    finally:
        worker_thread.join(120)
    version = outcome["version"]
    assert version.compile["status"] == "unavailable"
    assert "exited with status -9" in version.compile["reason"]
    deadline = time.monotonic() + 20
    while _processes_in_group(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = _processes_in_group(worker)
    db = connect(home.db_path)
    try:
        actions = [a for (a,) in db.execute(
            "SELECT action FROM audit_log WHERE subject = ? ORDER BY seq", [f"{MODEL}/2"])]
        assert actions[-1] == "model.compile"  # the failed compile is on record
        loaded = load_scorer(home, db, MODEL, "2")
        assert loaded.scorer.kind == "xgboost" and "exited with status -9" in loaded.scorer.reason
    finally:
        db.close()
    sound_and_serving(home)
    assert not orphans, f"compilers outlived their killed worker: {orphans}"


# -- promotion --------------------------------------------------------------------------------

_PROMOTE = """
import sys, time
from pathlib import Path
import appliance.audit as audit
from appliance import registry
from appliance.home import DataHome
from appliance.store.db import connect

record = audit.record
def stalled(db, actor, action, subject, details):
    record(db, actor, action, subject, details)
    if action == "model.promote":  # the alias row and its audit entry are written, uncommitted
        print("inside the transaction", flush=True)
        time.sleep(120)
audit.record = stalled
home = DataHome(Path(sys.argv[1]))
registry.promote(connect(home.db_path), "credit_default", 2, actor="test", reason="killed")
"""


def test_kill_9_inside_a_promotion_leaves_the_old_alias_and_no_trace(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    db = connect(home.db_path)
    events = db.execute("SELECT count(*) FROM alias_events").fetchone()[0]
    entries = db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    db.close()
    child = subprocess.Popen([sys.executable, "-c", _PROMOTE, str(home.root)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "inside the transaction"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    db = connect(home.db_path)
    try:
        assert registry.aliases(db, MODEL) == {"production": 1}
        assert db.execute("SELECT count(*) FROM alias_events").fetchone()[0] == events
        assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == entries
    finally:
        db.close()
    sound_and_serving(home)
    db = connect(home.db_path)  # the store is not left locked: the same promotion now works
    try:
        registry.promote(db, MODEL, 2, actor="test", reason="after the crash")
        assert registry.aliases(db, MODEL)["production"] == 2 and audit.verify(db).ok
    finally:
        db.close()


# -- a full disk --------------------------------------------------------------------------------

_FULL_DISK = """
import json, sys
from pathlib import Path
from appliance import audit
from appliance.errors import IngestError
from appliance.home import DataHome
from appliance.ingest import ingest_file, parse_schema
from appliance.store.db import connect

root = Path(sys.argv[1])
home = DataHome(root / "home")
home.layout()
db = connect(home.db_path)
schema = parse_schema({"name": "nums", "columns": [{"name": "n", "type": "int"},
                                                   {"name": "note", "type": "string"}]})
small = root / "small.csv"
small.write_text("n,note\\n1,a\\n2,b\\n")
first = ingest_file(home, db, small, schema).run
big = Path(sys.argv[2])
out = {"first": [first.rows_in, first.rows_ok]}
try:
    ingest_file(home, db, big, schema)
    out["second"] = "ingested"
except IngestError as exc:
    out["second"] = str(exc)
out["runs"] = db.execute("SELECT status, error FROM ingest_runs ORDER BY id").fetchall()
out["versions"] = db.execute("SELECT count(*) FROM dataset_versions").fetchone()[0]
out["integrity"] = db.execute("PRAGMA integrity_check").fetchone()[0]
out["audit"] = audit.verify(db).ok
out["actions"] = [a for (a,) in db.execute("SELECT action FROM audit_log ORDER BY seq")]
out["tmp_left"] = [str(p) for p in home.root.rglob(".tmp-run-*")]
again = root / "again.csv"
again.write_text("n,note\\n3,c\\n")
out["after"] = ingest_file(home, db, again, schema).run.rows_ok  # the space came back
print(json.dumps(out))
"""


def test_a_disk_that_fills_during_ingest_fails_the_run_cleanly(tmp_path: Path) -> None:
    """A 16 MiB tmpfs holds the whole home; a 40 MiB file cannot fit its lake and
    quarantine output. Runs in a private user and mount namespace, so the mount needs no
    privileges and disappears with the process."""
    mount = tmp_path / "disk"
    mount.mkdir()
    big = tmp_path / "big.csv"
    with big.open("w") as out:  # random notes: Parquet cannot compress them away
        out.write("n,note\n")
        for i in range(190_000):
            out.write(f"{i},{os.urandom(100).hex()}\n")
    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK)
    shell = (f"mount -t tmpfs -o size=16m tmpfs {mount} && cd {REPO} && "
             f"exec {sys.executable} {script} {mount} {big}")  # fmt: skip
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here ({probe.stderr.decode().strip()}); "
                    "the injected-writer test in test_ingest.py covers the logic")  # fmt: skip
    done = subprocess.run(["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["first"] == [2, 2]
    assert "No space left on device" in out["second"] and "nothing was added" in out["second"]
    assert [status for status, _ in out["runs"]] == ["ok", "failed"]
    assert "No space left on device" in out["runs"][1][1]  # recorded on the run
    assert out["versions"] == 1 and out["tmp_left"] == []
    assert out["integrity"] == "ok" and out["audit"] is True
    assert out["actions"][-1] == "ingest.failed"
    assert out["after"] == 1



# -- promoting a model file that does not load ----------------------------------------------


def _unparseable(home: DataHome) -> tuple[int, str]:
    return register_copy(home, booster=b'{"learner": "not a model"}'), "booster does not load"


def _changed(home: DataHome) -> tuple[int, str]:
    version = register_copy(home)
    path = home.root / "models" / MODEL / str(version) / "model.ubj"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return version, "was changed after registration"


def _missing(home: DataHome) -> tuple[int, str]:
    version = register_copy(home)
    (home.root / "models" / MODEL / str(version) / "model.ubj").unlink()
    return version, "is missing"


@pytest.mark.parametrize("damage", [_unparseable, _changed, _missing])
@pytest.mark.parametrize("alias", ["production", "challenger"])
def test_a_version_whose_booster_does_not_load_is_never_promoted(
    trained_home: DataHome, tmp_path: Path, damage: Any, alias: str  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    version, problem = damage(home)
    db = connect(home.db_path)
    try:
        before = registry.aliases(db, MODEL)
        with pytest.raises(PromotionRefused, match=problem) as refused:
            registry.promote(db, MODEL, version, alias=alias, actor="test", reason="try it")
        assert f"{MODEL} v{version} to {alias} refused" in str(refused.value)
        assert registry.aliases(db, MODEL) == before  # nothing moved
        action, details = db.execute("SELECT action, details FROM audit_log"
                                     " ORDER BY seq DESC LIMIT 1").fetchone()  # fmt: skip
        assert action == "model.promotion_refused" and problem in json.loads(details)["artifact"]
    finally:
        db.close()
    sound_and_serving(home)  # integrity, audit chain, v1 still production and compiled
