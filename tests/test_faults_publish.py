"""Publishing onto a disk that fills up. The data home sits on a real tmpfs (in a private
user and mount namespace, so mounting needs no privileges and the mount dies with the
process) sized just above what the home already holds, and ``appliance jobs run publish``
runs as a real process, as the scheduler would run it. Two disks: one too small for the
new Arrow data, one that holds the Arrow data but not the grown Hyper extract.

After each: every extract is still readable through Hyper with its old row counts, the
failure is on the job run (status, error, alert), ``PRAGMA integrity_check`` is ok, the
audit chain verifies, and once space is back the next publish brings every extract level
with the store. (Two defects this found in ``connectors/`` are fixed: a part's temporary
file was left behind, and the read-back check used the writing connection, which does not
see Hyper's final write failing.)

Covered elsewhere: kill -9 mid-publish (tests/test_connectors_publish.py), a full disk
during ingest (tests/test_faults_jobs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.home import DataHome
from appliance.store.db import connect
from connectors.publisher import data_folder, publish
from tests.connectors_data import add_predictions, fill_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
NEW_SCORES = 20_000

# Runs inside the namespace: for each disk, a tmpfs holding a copy of the home and
# ``margin`` KiB more; the publish job through the CLI; what is on disk afterwards; then
# the disk grown and the job run again.
_DRIVER = r"""
import json, os, shutil, subprocess, sys
from pathlib import Path
from appliance import audit
from appliance.home import DataHome
from appliance.store.db import connect
from connectors import hyper
from connectors.catalogue import TABLES
from connectors.marks import table_marks
from scheduler import records

source, mount, margins = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])

def sh(*args):
    subprocess.run(args, check=True)

def used_kib():
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024

def publish_job(home):
    done = subprocess.run([sys.executable, "-m", "appliance", "--home", str(home.root), "jobs",
                           "run", "publish"], capture_output=True, text=True)
    return {"rc": done.returncode, "stderr": done.stderr[-2000:]}

def on_disk(home):
    # Row counts of every table in the extracts as they are on disk, read through Hyper.
    counts = {}
    with hyper.hyper_process() as process:
        for path in sorted(home.dir("publish").glob("*.hyper")):
            with hyper.open_extract(process, path, create=False) as conn:
                for table in TABLES:
                    if table.subject == path.stem:
                        counts[table.name] = int(hyper.totals(conn, table)[0])
    return counts

def facts(home):
    db = connect(home.db_path)
    try:
        run = db.execute("SELECT id, status, error FROM job_runs WHERE job = 'publish'"
                         " ORDER BY id DESC LIMIT 1").fetchone()
        return {
            "run": run and {"status": run[1], "error": run[2],
                            "alerts": [a.message for a in records.list_alerts(db, run_id=run[0])]},
            "marks": {name: m.rows for name, m in sorted(table_marks(db).items())},
            "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
            "audit": audit.verify(db).ok,
            "on_disk": on_disk(home),
            "tmp_left": sorted(str(p.relative_to(home.root))
                               for p in home.dir("publish").rglob("*.tmp")),
        }
    finally:
        db.close()

out = {}
for name, margin in margins.items():
    sh("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(mount))
    shutil.copytree(source, mount / "home", symlinks=True)
    sh("mount", "-o", f"remount,size={used_kib() + margin}k", str(mount))
    home = DataHome(mount / "home")
    before = facts(home)
    job = publish_job(home)
    after = facts(home)
    sh("mount", "-o", "remount,size=1g", str(mount))  # the space comes back
    again = publish_job(home)
    out[name] = {"before": before, "job": job, "after": after, "again": again,
                 "healed": facts(home)}
    sh("umount", str(mount))
print(json.dumps(out))
"""


def _sizes(home: DataHome, tmp: Path) -> tuple[int, int]:
    """Bytes of the new Arrow part for scores, and of the grown scores extract, measured
    by publishing a copy of the home on an ordinary disk."""
    trial = DataHome(tmp / "trial")
    shutil.copytree(home.root, trial.root)
    db = connect(trial.db_path)
    try:
        publish(trial, db)
    finally:
        db.close()
    parts = sorted((data_folder(trial) / "scores").glob("*.arrow"), key=os.path.getmtime)
    return parts[-1].stat().st_size, (trial.dir("publish") / "scores.hyper").stat().st_size


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What happened on each full disk (one namespace, both disks, run once)."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here ({probe.stderr.decode().strip()})")
    tmp = tmp_path_factory.mktemp("full-disk-publish")
    home = DataHome(tmp / "home")
    home.layout()
    db = connect(home.db_path)
    try:
        fill_store(db, 10)
        publish(home, db)  # the good extracts a full disk must not lose
        add_predictions(db, NEW_SCORES, start=1_000)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    part, extract = _sizes(home, tmp)
    margins = {  # KiB free once the copy of the home is on the tmpfs
        "arrow": part // 4 // 1024,  # the new scores part cannot be written
        "hyper": (part + extract // 2) // 1024,  # the part fits; the grown extract does not
    }
    mount = tmp / "disk"
    mount.mkdir()
    script = tmp / "driver.py"
    script.write_text(_DRIVER)
    done = subprocess.run(
        ["unshare", "-rm", sys.executable, str(script), str(home.root), str(mount),
         json.dumps(margins)],
        capture_output=True, text=True, timeout=400, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _old_extracts_survive_and_heal(disk: dict[str, Any]) -> None:
    before, after, healed = disk["before"], disk["after"], disk["healed"]
    assert before["on_disk"]["scores"] == 12 and before["marks"] == before["on_disk"]
    assert set(after["on_disk"]) == set(before["on_disk"])  # every extract opens in Hyper
    assert after["on_disk"]["scores"] == 12  # the one that ran out of room: its old rows
    assert after["integrity"] == "ok" and after["audit"] is True
    # once space is back, the next publish brings every extract level with the store
    assert disk["again"]["rc"] == 0, disk["again"]["stderr"]
    assert healed["on_disk"]["scores"] == 12 + NEW_SCORES + NEW_SCORES // 5
    assert healed["on_disk"] == healed["marks"]
    assert healed["integrity"] == "ok" and healed["audit"] is True


def test_no_room_for_the_arrow_data_fails_the_publish_and_keeps_the_extracts(
    disks: dict[str, Any],
) -> None:
    disk = disks["arrow"]
    job, run = disk["job"], disk["after"]["run"]
    assert job["rc"] == 9 and "No space left on device" in job["stderr"]
    assert "Traceback" not in job["stderr"]
    assert run["status"] == "failed" and "No space left on device" in run["error"]
    assert any("No space left on device" in a for a in run["alerts"])
    assert disk["after"]["on_disk"] == disk["before"]["on_disk"]  # no extract changed
    assert disk["after"]["marks"] == disk["before"]["marks"]  # the store claims nothing new
    _old_extracts_survive_and_heal(disk)


def test_no_room_for_the_arrow_data_leaves_no_temporary_file(disks: dict[str, Any]) -> None:
    assert disks["arrow"]["after"]["tmp_left"] == []
    assert disks["arrow"]["healed"]["tmp_left"] == []


def test_no_room_for_the_grown_extract_keeps_the_old_one(disks: dict[str, Any]) -> None:
    disk = disks["hyper"]
    assert disk["after"]["tmp_left"] == [] == disk["healed"]["tmp_left"]  # the new one went
    _old_extracts_survive_and_heal(disk)


def test_no_room_for_the_grown_extract_is_not_reported_as_published(
    disks: dict[str, Any],
) -> None:
    after = disks["hyper"]["after"]
    assert after["marks"] == after["on_disk"]  # the store's record is what the file holds
    assert after["run"]["status"] == "failed"
