"""One dispatch of a job: its lock, a run record per attempt, the attempt in this
process or in a worker, retries with backoff, and an alert when it finally fails.

Nothing here raises for a job's failure: that is recorded, logged and alerted. The
only exception is JobBusy, when the job is already running somewhere.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.home import DataHome
from scheduler import records
from scheduler.catalogue import JobKind
from scheduler.clock import Clock, iso
from scheduler.config import JobConfig
from scheduler.errors import JobBusy
from scheduler.locks import JobLock
from scheduler.outcome import Attempt, run_and_record, run_log_path
from scheduler.run_job import EXIT_CODES
from scheduler.schedule import format_duration

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["Active", "Dispatch", "Executor", "stop_worker"]

_POLL_S = 0.2
_TERM_GRACE_S = 10.0


@dataclass(frozen=True)
class Dispatch:
    """What to run, why, and whether a failure is tried again."""

    job: JobConfig
    kind: JobKind
    trigger: str
    retry: bool = True
    retry_of: int | None = None
    """The run this one re-runs (an interrupted run), if any."""


@dataclass
class Active:
    """A dispatch in progress, as the runner sees it when it stops."""

    job: str
    run_id: int | None = None
    worker: subprocess.Popen[bytes] | None = None


class Executor:
    def __init__(
        self,
        home: DataHome,
        clock: Clock,
        log: logging.Logger,
        stop: threading.Event,
        python: str = sys.executable,
    ) -> None:
        self.home, self.clock, self.log, self.stop, self.python = home, clock, log, stop, python

    def execute(self, d: Dispatch, active: Active | None = None) -> records.JobRun:
        """Run ``d`` to its end and return its last run; JobBusy if it is running already."""
        active = active or Active(d.job.name)
        lock = JobLock(self.home, d.job.name)
        if not lock.try_acquire():
            raise JobBusy(self._busy(d.job.name))
        try:
            self._settle_own(d.job.name)
            return self._attempts(d, lock, active)
        finally:
            lock.release()

    def _settle_own(self, job: str) -> None:
        """With the lock held, any run of this job still marked running is a dead one."""
        with self._db() as db:
            for run in records.running_runs(db):
                if run.job == job:
                    records.end_run(
                        db,
                        run.id,
                        "interrupted",
                        self.clock.now(),
                        error=("the process running it stopped before it finished"),
                    )

    def _attempts(self, d: Dispatch, lock: JobLock, active: Active) -> records.JobRun:
        tries = d.job.retry.attempts if d.retry else 1
        first_id = d.retry_of
        for number in range(1, tries + 1):
            run, attempt = self._attempt(d, number, first_id, lock, active)
            first_id = first_id or run.id
            final = run.status == "ok" or self.stop.is_set() or attempt.permanent
            delay = None if final or number == tries else d.job.retry.delay(number)
            self._report(run, tries, delay)
            if delay is None:
                break
            if self.clock.sleep(delay, self.stop):
                break  # shutting down: the next start re-runs what is unfinished
        if run.status != "ok" and not self.stop.is_set():
            self._alert(run, attempt.permanent, number)
        return run

    def _attempt(
        self, d: Dispatch, number: int, retry_of: int | None, lock: JobLock, active: Active
    ) -> tuple[records.JobRun, Attempt]:
        started = self.clock.now()
        with self._db() as db:
            run_id = records.start_run(
                db,
                d.job.name,
                d.kind.name,
                d.trigger,
                started,
                attempt=number,
                retry_of=retry_of,
                pid=os.getpid(),
            )
        active.run_id = run_id
        if d.kind.heavy:
            attempt = self._in_worker(d, run_id, started, lock, active)
        else:
            with run_log_path(self.home, d.job.name, run_id).open("a", encoding="utf-8") as log:
                attempt = run_and_record(
                    self.home,
                    run_id,
                    d.kind,
                    d.job.params,
                    started,
                    self.clock.now,
                    log,
                    d.job.name,
                )
        with self._db() as db:
            run = records.get_run(db, run_id)
            for alert in records.list_alerts(db, run_id=run_id):
                self.log.warning(
                    f"job {d.job.name} run {run_id}: {alert.message}",
                    extra={"fields": {"job": d.job.name, "run": run_id}},
                )
        return run, attempt

    def _in_worker(
        self, d: Dispatch, run_id: int, started: datetime, lock: JobLock, active: Active
    ) -> Attempt:
        log_path = run_log_path(self.home, d.job.name, run_id)
        command = [
            self.python,
            "-m",
            "scheduler.run_job",
            "--home",
            str(self.home.root),
            "--job",
            d.job.name,
            "--run-id",
            str(run_id),
            "--kind",
            d.kind.name,
            "--target",
            d.kind.target,
            "--params",
            json.dumps(dict(d.job.params), default=str),
            "--started",
            iso(started),
        ]
        with log_path.open("ab") as out:
            # a session of its own: Ctrl-C on `appliance up` does not reach it; the runner
            # decides when a worker stops
            worker = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(lock.fd,),
                start_new_session=True,
            )
        active.worker = worker
        with self._db() as db:
            records.set_pid(db, run_id, worker.pid)
        timed_out = _wait(worker, d.job.timeout_s)
        active.worker = None
        return self._settle_worker(d, run_id, worker, timed_out, log_path.name)

    def _settle_worker(
        self,
        d: Dispatch,
        run_id: int,
        worker: subprocess.Popen[bytes],
        timed_out: bool,
        log_name: str,
    ) -> Attempt:
        code = worker.returncode
        now = self.clock.now()
        with self._db() as db:
            run = records.get_run(db, run_id)
            if run.status != "running":  # the worker recorded its own ending
                return Attempt(run.status, code == EXIT_CODES["permanent"])
            if timed_out:
                limit = format_duration(d.job.timeout_s or 0)
                records.end_run(
                    db, run_id, "failed", now, error=f"stopped after the job's timeout of {limit}"
                )
                return Attempt("failed", permanent=True)
            if code < 0:
                name = signal.Signals(-code).name
                records.end_run(
                    db,
                    run_id,
                    "interrupted",
                    now,
                    error=(
                        f"the worker process (pid {worker.pid}) was killed by {name} before it "
                        "finished"
                    ),
                )
                return Attempt("interrupted")
            records.end_run(
                db,
                run_id,
                "failed",
                now,
                error=(
                    f"the worker process exited with status {code} without recording a result; "
                    f"see logs/jobs/{log_name}"
                ),
            )
            return Attempt("failed")

    def _report(self, run: records.JobRun, tries: int, retry_in: float | None) -> None:
        took = f"{run.seconds:.1f} s" if run.seconds is not None else "?"
        fields: dict[str, Any] = {
            "job": run.job,
            "run": run.id,
            "status": run.status,
            "trigger": run.trigger,
            "attempt": run.attempt,
            "seconds": run.seconds,
            "rows": run.rows,
        }
        head = f"job {run.job} run {run.id} {run.status} in {took} ({run.trigger}"
        if run.status == "ok":
            self.log.info(f"{head}): {run.summary}", extra={"fields": fields})
            return
        fields["error"] = run.error
        then = (
            f"; retrying in {format_duration(round(retry_in, 3))}" if retry_in is not None else ""
        )
        self.log.error(
            f"{head}, attempt {run.attempt} of {tries}): {run.error}{then}",
            extra={"fields": fields},
        )

    def _alert(self, run: records.JobRun, permanent: bool, tried: int) -> None:
        why = (
            "with an error another attempt cannot fix"
            if permanent
            else (f"after {tried} attempt(s)")
        )
        message = f"job {run.job} {run.status} {why}: {run.error}"
        try:
            with self._db() as db:
                records.add_alert(db, run.job, run.id, message, self.clock.now())
        finally:
            self.log.error(
                f"ALERT {message}", extra={"fields": {"job": run.job, "run": run.id, "alert": True}}
            )

    def _busy(self, job: str) -> str:
        with self._db() as db:
            running = [r for r in records.running_runs(db) if r.job == job]
        if running:
            r = running[-1]
            return (
                f"job {job} is already running (run {r.id}, started {r.started_at}, "
                f"pid {r.pid}); runs of one job never overlap"
            )
        return f"job {job} is already being run by another process; runs of one job never overlap"

    def _db(self) -> AbstractContextManager[Database]:
        from appliance.store.db import opened

        return opened(self.home.db_path, migrate_schema=True)


def _wait(worker: subprocess.Popen[bytes], timeout_s: float | None) -> bool:
    """Wait for the worker to exit; True if it ran past ``timeout_s`` and was stopped."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            worker.wait(_POLL_S)
            return False
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                stop_worker(worker)
                return True


def stop_worker(worker: subprocess.Popen[bytes], grace_s: float = _TERM_GRACE_S) -> None:
    """SIGTERM to the worker's process group, SIGKILL after ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(worker.pid, sig)
        except ProcessLookupError:
            return
        try:
            worker.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
