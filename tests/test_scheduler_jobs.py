"""The catalogue's jobs on real homes: housekeeping, the inbox sweep, retraining."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.errors import SchemaError
from appliance.home import DataHome
from appliance.store.db import connect
from scheduler.catalogue import CATALOGUE
from scheduler.config import load_config
from scheduler.job import JobContext, JobResult
from scheduler.runner import Runner
from tests.lake_fixtures import build_demo_lake, copy_home

NOW = datetime(2030, 6, 1, 3, 0, tzinfo=UTC)


def run_job(home: DataHome, kind: str, params: dict[str, Any], now: datetime = NOW) -> JobResult:
    db = connect(home.db_path)
    try:
        lines: list[str] = []
        ctx = JobContext(home, db, params, now, actor="test", progress=lines.append)
        return CATALOGUE[kind].load()(ctx)
    finally:
        db.close()


def age(path: Path, days: float) -> Path:
    stamp = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_housekeeping_expires_old_files_vacuums_and_keeps_n_backups(
    home: DataHome, tmp_path: Path
) -> None:
    quarantine = home.dir("quarantine") / "credit_applications"
    (quarantine / "files").mkdir(parents=True)
    old = quarantine / "run-1.parquet"
    old.write_bytes(b"x")
    age(old, 200)
    (quarantine / "files" / "bad.csv").write_bytes(b"y")
    age(quarantine / "files" / "bad.csv", 181)
    fresh = quarantine / "run-9.parquet"
    fresh.write_bytes(b"z")
    age(fresh, 10)
    jobs = home.dir("logs") / "jobs"
    jobs.mkdir()
    (jobs / "ingest-1.log").write_text("old")
    age(jobs / "ingest-1.log", 100)
    (jobs / "ingest.lock").write_text("")
    age(jobs / "ingest.lock", 100)  # a lock, not a log: kept
    db = connect(home.db_path)
    db.execute("CREATE TABLE junk AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
               "FROM n WHERE i < 20000) SELECT i, hex(randomblob(50)) AS b FROM n")  # fmt: skip
    db.execute("DROP TABLE junk")
    assert db.execute("PRAGMA freelist_count").fetchone()[0] > 0
    db.close()
    params = {"backup_dir": str(tmp_path / "backups"), "backup_keep": 2}
    results = [run_job(home, "housekeeping", params, NOW + timedelta(minutes=i)) for i in range(3)]
    assert sorted(p.name for p in quarantine.rglob("*") if p.is_file()) == ["run-9.parquet"]
    assert not (quarantine / "files").exists()  # emptied folders go too
    assert sorted(p.name for p in jobs.iterdir()) == ["ingest.lock"]
    assert results[0].rows == 3 and results[1].rows == 0
    backups = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert backups == ["home-20300601T030100Z", "home-20300601T030200Z"]
    assert "1 older one(s) removed" in results[2].summary
    assert results[2].artifacts == [str(tmp_path / "backups" / "home-20300601T030200Z")]
    db = connect(home.db_path)
    assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0  # vacuumed
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions.count("quarantine.expire") == 1 and actions.count("home.backup") == 3
    db.close()


def test_housekeeping_without_a_backup_dir_and_with_bad_params(home: DataHome) -> None:
    result = run_job(home, "housekeeping", {"backup_dir": ""})
    assert "no backup (backup_dir is empty)" in result.summary and result.artifacts == []
    with pytest.raises(SchemaError, match="quarantine_days must be a int"):
        run_job(home, "housekeeping", {"quarantine_days": "forever"})
    with pytest.raises(SchemaError, match="backup_keep at least 1"):
        run_job(home, "housekeeping", {"backup_keep": 0})


def test_two_backups_in_one_second_do_not_collide(home: DataHome, tmp_path: Path) -> None:
    params = {"backup_dir": str(tmp_path / "b"), "backup_keep": 5}
    run_job(home, "housekeeping", params)
    run_job(home, "housekeeping", params)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "home-20300601T030000Z", "home-20300601T030000Z-2",
    ]  # fmt: skip


def test_the_ingest_job_reports_an_unreadable_file_and_goes_on(home: DataHome) -> None:
    from appliance.demo import generate

    inbox = home.dir("inbox")
    generate(inbox, rows=200, seed=3)
    keep = [p for p in inbox.iterdir() if p.name.startswith("credit_")]
    for path in inbox.iterdir():
        if path.is_file() and path not in keep:
            path.unlink()
    (inbox / "fraud_broken.csv").write_bytes(b"\x00\x01\x02 not a csv at all\xff" * 10)
    (inbox / "notes.txt").write_text("no source for me")
    result = run_job(home, "ingest", {})
    assert result.summary.startswith("3 file(s) ingested")
    assert "1 file(s) matched no source" in result.summary
    [problem] = result.problems
    assert problem.startswith("fraud_broken.csv: ")
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["notes.txt"]
    assert len(list((inbox / "done").iterdir())) == 3
    assert result.rows > 200 and all(a.startswith("lake/credit_") for a in result.artifacts)
    again = run_job(home, "ingest", {})
    assert again.summary.startswith("0 file(s) ingested, 0 row(s)")


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    return build_demo_lake(tmp_path_factory.mktemp("lake") / "home")


@pytest.mark.slow
def test_retrain_trains_in_a_worker_then_skips_what_has_not_changed(
    demo_lake: DataHome, tmp_path: Path
) -> None:
    home = copy_home(demo_lake, tmp_path / "home")
    text = home.config_path.read_text().replace(
        "params = { usecases = [], retrain_unchanged = false }",
        'params = { usecases = ["credit_default"], retrain_unchanged = false }',
    )
    home.config_path.write_text(text)
    runner = Runner(home, load_config(home))
    first = runner.run_now("retrain")
    assert first.status == "ok", first.error
    assert first.pid != os.getpid()  # trained in a worker process
    assert first.artifacts == ["models/credit_default/1"]
    assert first.summary.startswith("credit_default: credit_default v1 ")
    assert first.rows > 1000
    second = runner.run_now("retrain")
    assert (second.status, second.rows) == ("ok", 0)
    assert second.summary == "credit_default: unchanged since v1, skipped"
    from scheduler.errors import JobPartlyFailed

    with pytest.raises(JobPartlyFailed, match=r"1 use case\(s\) failed: nosuch: .*\(the others: "
                       r"credit_default: unchanged since v1, skipped\)"):  # fmt: skip
        run_job(home, "retrain", {"usecases": ["credit_default", "nosuch"]})


def test_retrain_names_each_failing_use_case(home: DataHome) -> None:
    from scheduler.errors import JobPartlyFailed, is_permanent

    with pytest.raises(JobPartlyFailed) as caught:
        run_job(home, "retrain", {"usecases": ["credit_default", "nosuch"]})
    text = str(caught.value)
    assert text.startswith("2 use case(s) failed: credit_default: no dataset named")
    assert "nosuch: no use case 'nosuch'" in text
    assert is_permanent(caught.value)
