"""The runner on a real store, with real worker processes: catch-up, retries and alerts,
no overlap, kill -9, graceful stop. The clock is injected wherever time matters."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.home import DataHome
from appliance.store.db import connect
from scheduler import records
from scheduler.clock import FakeClock, SystemClock
from scheduler.errors import JobBusy
from scheduler.locks import JobLock
from scheduler.runner import Runner, settle_interrupted
from tests.scheduler_targets import config, kinds, trace

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def runs(home: DataHome, job: str | None = None) -> list[records.JobRun]:
    db = connect(home.db_path)
    try:
        return list(reversed(records.list_runs(db, job, limit=1000)))
    finally:
        db.close()


def alerts(home: DataHome) -> list[records.Alert]:
    db = connect(home.db_path)
    try:
        return records.list_alerts(db, limit=1000)
    finally:
        db.close()


def runner(home: DataHome, jobs: dict, clock: object = None, **scheduler: object) -> Runner:
    return Runner(home, config(jobs, **scheduler), catalogue=kinds(),
                  clock=clock or SystemClock())  # type: ignore[arg-type]  # fmt: skip


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["tick", "tick_worker"])
def test_a_clock_jump_past_two_runs_gives_exactly_one_catch_up_run(
    home: DataHome, kind: str
) -> None:
    clock = FakeClock(T0)
    jobs = {"tick": {"kind": kind, "every": "1h"}}
    first = runner(home, jobs, clock)
    assert not first.start()[0].run  # first start: the schedule counts from now
    first.stop(5)
    clock.advance(2.5 * 3600)  # 01:00 and 02:00 fell while the box was off
    second = runner(home, jobs, clock)
    [decision] = second.start()
    assert second.wait_idle(30)
    second.stop(5)
    assert (decision.run, decision.missed) == (True, 2)
    assert [(r.job, r.trigger, r.status, r.rows) for r in runs(home)] == [
        ("tick", "catch-up", "ok", 1)
    ]
    assert [t["now"] for t in trace(home.root, "tick")] == [(T0 + timedelta(hours=2.5)).isoformat()]
    third = runner(home, jobs, clock)  # started again at once: nothing was missed since
    assert not third.start()[0].run
    third.stop(5)
    clock.advance(3600)  # one more hourly run due while stopped
    fourth = runner(home, jobs, clock)
    assert fourth.start()[0].missed == 1
    assert fourth.wait_idle(30)
    fourth.stop(5)
    assert [r.trigger for r in runs(home)] == ["catch-up", "catch-up"]


def test_missed_runs_beyond_the_grace_are_logged_not_run(
    home: DataHome, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    jobs = {"tick": {"kind": "tick", "cron": "0 3 * * *", "catch_up_grace": "1h"}}
    r = runner(home, jobs, clock)
    r.start()
    r.stop(5)
    clock.advance(86400 * 3 + 5 * 3600)
    with caplog.at_level(logging.INFO, logger="scheduler"):
        again = runner(home, jobs, clock)
        again.start()
        again.stop(5)
    assert runs(home) == []
    assert "beyond the catch-up grace of 1h" in caplog.text


def test_a_failing_job_is_recorded_retried_with_backoff_and_alerted(
    home: DataHome, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    r = runner(home, {"boom": {"kind": "boom", "every": "1h", "retry_attempts": 3,
                               "retry_backoff": "10s"}}, clock)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="scheduler"):
        last = r.run_now("boom", "schedule", retry=True)
    rows = runs(home)
    first = rows[0].id
    assert [(x.status, x.attempt, x.retry_of) for x in rows] == [
        ("failed", 1, None), ("failed", 2, first), ("failed", 3, first),
    ]  # fmt: skip
    assert last.id == rows[-1].id
    assert clock.slept == [10, 20]  # the backoff doubles
    assert all("RuntimeError: boom: the job failed on purpose" in (x.error or "") for x in rows)
    assert "Traceback" in (home.root / "logs" / "jobs" / f"boom-{first}.log").read_text()
    [alert] = alerts(home)
    assert alert.run_id == rows[-1].id and "after 3 attempt(s)" in alert.message
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 4 and errors[0].endswith("; retrying in 10s")
    assert errors[-1].startswith("ALERT job boom failed after 3 attempt(s)")
    assert len(trace(home.root, "boom")) == 3


def test_a_failure_no_retry_can_fix_is_alerted_at_once(home: DataHome) -> None:
    clock = FakeClock(T0)
    r = runner(home, {"broken": {"kind": "broken", "every": "1h"}}, clock)
    r.run_now("broken", "schedule", retry=True)
    [run] = runs(home)
    assert run.status == "failed" and run.error == "usecases/x.toml: [target] column is missing"
    assert clock.slept == []
    assert "another attempt cannot fix" in alerts(home)[0].message


def test_a_worker_records_its_own_failure_and_problems_become_alerts(home: DataHome) -> None:
    r = runner(home, {"boom": {"kind": "boom_worker", "every": "1h", "retry_attempts": 2},
                      "warn": {"kind": "with_problem", "every": "1h"}})  # fmt: skip
    r.run_now("boom", retry=True)
    r.run_now("warn")
    boom = runs(home, "boom")
    assert [(x.status, x.attempt) for x in boom] == [("failed", 1), ("failed", 2)]
    assert all(x.pid is not None and x.pid != os.getpid() for x in boom)  # a worker ran it
    assert len({t["pid"] for t in trace(home.root, "boom")} - {os.getpid()}) == 2
    [warn] = runs(home, "warn")
    assert (warn.status, warn.rows, warn.summary) == ("ok", 3, "done")
    messages = [a.message for a in alerts(home)]
    assert "inbox/x.csv: unreadable, quarantined" in messages
    assert any(m.startswith("job boom failed after 2 attempt(s)") for m in messages)


@pytest.mark.slow
def test_the_scheduler_keeps_going_and_never_overlaps_a_job(
    home: DataHome, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = {
        "boom": {"kind": "boom", "every": 1, "retry_attempts": 2},
        "tick": {"kind": "tick", "every": 1},
        "slow": {"kind": "slow", "every": 1, "params": {"seconds": 1.6}},
    }
    r = runner(home, jobs)
    with caplog.at_level(logging.INFO, logger="scheduler"):
        r.start()
        time.sleep(3.6)
        assert r.running
        r.stop(5)
    boom, tick = runs(home, "boom"), runs(home, "tick")
    assert len(boom) >= 4 and {x.status for x in boom} == {"failed"}
    assert len(alerts(home)) >= 2
    assert len(tick) >= 2 and {x.status for x in tick} == {"ok"}
    events = [t["event"] for t in trace(home.root, "slow")]
    assert events[:4] == ["start", "end", "start", "end"][: len(events[:4])]
    assert all(a != b for a, b in itertools.pairwise(events))  # never two starts
    assert "schedule run skipped, run" in caplog.text  # a fire while it ran was coalesced


def test_two_runs_of_one_job_never_overlap_across_runners(home: DataHome) -> None:
    jobs = {"slow": {"kind": "slow_worker", "every": "1h", "params": {"seconds": 1.0}}}
    first, second = runner(home, jobs), runner(home, jobs)
    assert first.submit("slow", "manual")
    wait_for(lambda: any(r.pid not in (None, os.getpid()) for r in runs(home)))
    assert not JobLock(home, "slow").is_free()  # held by the worker process too
    with pytest.raises(JobBusy, match=r"job slow is already running \(run 1, .*pid \d+\)"):
        second.run_now("slow")
    assert first.wait_idle(30)
    assert JobLock(home, "slow").is_free()
    assert second.run_now("slow").status == "ok"
    assert [r.status for r in runs(home)] == ["ok", "ok"]


def test_threads_racing_for_one_job_get_one_run(home: DataHome) -> None:
    r = runner(home, {"slow": {"kind": "slow", "every": "1h", "params": {"seconds": 0.5}}})
    barrier, outcomes = threading.Barrier(3), []

    def go() -> None:
        barrier.wait()
        try:
            outcomes.append(r.run_now("slow").status)
        except JobBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["busy", "busy", "ok"]
    assert len(runs(home)) == 1


def test_kill_9_of_a_worker_is_recorded_as_interrupted_and_run_again(home: DataHome) -> None:
    r = runner(home, {"hang": {"kind": "hang_once_worker", "every": "1h"}})
    assert r.submit("hang", "manual")
    marker = home.root / "logs" / "hang_once.started"
    wait_for(marker.exists)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    assert r.wait_idle(30)
    first, second = runs(home)
    assert first.status == "interrupted" and "killed by SIGKILL" in (first.error or "")
    assert (second.status, second.attempt, second.retry_of, second.rows) == ("ok", 2, first.id, 7)


def test_kill_9_of_the_service_and_its_worker_is_settled_and_rerun_on_start(
    home: DataHome,
) -> None:
    code = "import sys; from tests.scheduler_targets import serve_hang; serve_hang(sys.argv[1])"
    service = subprocess.Popen([sys.executable, "-c", code, str(home.root)], cwd=REPO)
    marker = home.root / "logs" / "hang_once.started"
    try:
        wait_for(marker.exists)
    finally:
        service.kill()  # kill -9 of the service ...
        service.wait()
    os.kill(int(marker.read_text()), signal.SIGKILL)  # ... and of its worker (a power cut)
    wait_for(JobLock(home, "hang").is_free)
    assert [r.status for r in runs(home)] == ["running"]  # nobody was left to record it
    again = runner(home, {"hang": {"kind": "hang_once_worker", "every": "1h"}})
    [decision] = again.start()
    assert again.wait_idle(30)
    again.stop(5)
    first, second = runs(home)
    assert first.status == "interrupted" and "kill -9" in (first.error or "")
    assert decision.rerun_of == first.id
    assert (second.trigger, second.status, second.retry_of) == ("catch-up", "ok", first.id)
    db = connect(home.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_stop_that_cannot_wait_stops_the_worker_and_the_next_start_reruns_it(
    home: DataHome,
) -> None:
    jobs = {"hang": {"kind": "hang_once_worker", "every": "1h"}}
    r = runner(home, jobs)
    r.start()
    r.submit("hang", "manual")
    wait_for((home.root / "logs" / "hang_once.started").exists)
    assert r.stop(timeout=0.2) == ["hang"]
    [run] = runs(home)
    assert run.status == "interrupted" and "killed by SIGTERM" in (run.error or "")
    again = runner(home, jobs)
    assert again.start()[0].rerun_of == run.id
    assert again.wait_idle(30)
    again.stop(5)
    assert [r.status for r in runs(home)] == ["interrupted", "ok"]


def test_an_in_process_run_cut_off_by_a_stop_stays_interrupted(home: DataHome) -> None:
    jobs = {"slow": {"kind": "slow", "every": "1h", "params": {"seconds": 0.8}}}
    r = runner(home, jobs)
    r.start()
    r.submit("slow", "manual")
    wait_for(lambda: trace(home.root, "slow"))
    assert r.stop(timeout=0.1) == ["slow"]
    wait_for(lambda: len(trace(home.root, "slow")) == 2)  # the thread finished after all ...
    time.sleep(0.1)
    [run] = runs(home)  # ... but the run stays interrupted: it ended only once
    assert run.status == "interrupted" and "the service stopped" in (run.error or "")
    again = runner(home, jobs)
    assert again.start()[0].rerun_of == run.id
    assert again.wait_idle(30)
    again.stop(5)
    assert [r.status for r in runs(home)] == ["interrupted", "ok"]


def test_settling_leaves_a_run_alone_while_its_lock_is_held(home: DataHome) -> None:
    db = connect(home.db_path)
    live = records.start_run(db, "a", "tick", "manual", T0)
    dead = records.start_run(db, "b", "tick", "manual", T0)
    lock = JobLock(home, "a")
    assert lock.try_acquire()
    try:
        settled = settle_interrupted(home, db, T0 + timedelta(seconds=1))
    finally:
        lock.release()
    assert [r.id for r in settled] == [dead]
    assert records.get_run(db, live).status == "running"
    assert records.get_run(db, dead).status == "interrupted"
    db.close()
