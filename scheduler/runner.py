"""The scheduler: APScheduler fires each enabled job on its schedule; every fire is
dispatched to a thread of its own (heavy jobs then wait there on a worker process).

On start it settles runs left ``running`` by a dead process (``interrupted``), and
gives each job at most one catch-up run (see ``scheduler.catchup``). The last fire
time of each job is kept in the store (``job_schedule``), so a restart knows what it
missed. Fires of a job whose previous run is still going are skipped (coalesced).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.home import DataHome
from scheduler import records
from scheduler.catalogue import CATALOGUE, JobKind
from scheduler.catchup import StartDecision, decide_on_start
from scheduler.clock import Clock, SystemClock
from scheduler.config import ApplianceConfig, JobConfig
from scheduler.errors import JobBusy
from scheduler.execute import Active, Dispatch, Executor, stop_worker
from scheduler.locks import JobLock

if TYPE_CHECKING:
    from apscheduler.events import JobSubmissionEvent
    from apscheduler.schedulers.background import BackgroundScheduler
    from sqlite_utils import Database

__all__ = ["Runner", "settle_interrupted"]

_WORKER_STOP_S = 10.0


def settle_interrupted(home: DataHome, db: Database, at: datetime) -> list[records.JobRun]:
    """Mark ``interrupted`` every run still ``running`` whose job lock nobody holds: the
    process running it is gone (power cut, kill -9, crash)."""
    settled = []
    for run in records.running_runs(db):
        if JobLock(home, run.job).is_free():
            ended = records.end_run(
                db,
                run.id,
                "interrupted",
                at,
                error=(
                    "the process running it stopped (power cut, kill -9 or crash) before it "
                    "finished; the scheduler runs it again on its next start"
                ),
            )
            if ended:
                settled.append(records.get_run(db, run.id))
    return settled


class Runner:
    """Runs the configured jobs of one home until stopped."""

    def __init__(
        self,
        home: DataHome,
        config: ApplianceConfig,
        *,
        catalogue: Mapping[str, JobKind] = CATALOGUE,
        clock: Clock | None = None,
        log: logging.Logger | None = None,
        python: str = sys.executable,
    ) -> None:
        self.home, self.config, self.catalogue = home, config, catalogue
        self.clock = clock or SystemClock()
        self.log = log or logging.getLogger("scheduler")
        self._stop = threading.Event()
        self._executor = Executor(home, self.clock, self.log, self._stop, python)
        self._guard = threading.Lock()
        self._active: dict[str, Active] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._aps: BackgroundScheduler | None = None

    @property
    def name(self) -> str:
        return "scheduler"

    @property
    def running(self) -> bool:
        return self._aps is not None

    def start(self) -> list[StartDecision]:
        """Settle interrupted runs, plan catch-ups, start firing; returns the decisions."""
        if self._aps is not None:
            raise RuntimeError("the scheduler is already running")
        self._stop.clear()
        now = self.clock.now()
        with self._db() as db:
            for run in settle_interrupted(self.home, db, now):
                self.log.warning(
                    f"job {run.job} run {run.id} was interrupted: {run.error}",
                    extra={"fields": {"job": run.job, "run": run.id}},
                )
            decisions = self._plan(db, now)
            # an interval counts from the last fire; never from the future (a clock set back)
            anchors = {
                j.name: min(records.last_fire(db, j.name) or now, now) for j in self._enabled
            }
        self._aps = self._start_aps(anchors)
        for decision in decisions:
            job = self.config.job(decision.job)
            due = self.next_fire(job.name)
            when = f", next run {due.isoformat(timespec='seconds')}" if due else ""
            self.log.info(
                f"job {decision.job} ({job.schedule.describe()}{when}): {decision.reason}",
                extra={"fields": {"job": decision.job, "start": decision.run}},
            )
            if decision.run:
                self.submit(decision.job, "catch-up", retry_of=decision.rerun_of)
        return decisions

    @property
    def _enabled(self) -> list[JobConfig]:
        return [job for job in self.config.jobs if job.enabled]

    def _plan(self, db: Database, now: datetime) -> list[StartDecision]:
        latest = records.latest_runs(db)
        decisions = []
        for job in self.config.jobs:
            last = latest.get(job.name)
            interrupted = last.id if last is not None and last.status == "interrupted" else None
            last_fire = records.last_fire(db, job.name)
            decision = decide_on_start(job, last_fire, now, interrupted)
            if job.enabled and (last_fire is None or decision.missed or decision.run):
                records.set_last_fire(db, job.name, now, now)  # the schedule counts from now
            decisions.append(decision)
        return decisions

    def _start_aps(self, anchors: Mapping[str, datetime]) -> BackgroundScheduler:
        from apscheduler.events import EVENT_JOB_SUBMITTED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        aps = BackgroundScheduler(
            timezone=self.config.timezone, executors={"default": ThreadPoolExecutor(2)}
        )
        for job in self._enabled:
            aps.add_job(
                self._fire,
                trigger=job.schedule.trigger(anchors[job.name]),
                args=[job.name],
                id=job.name,
                name=job.name,
                coalesce=True,
                max_instances=1,
                # a fire delayed (a suspended machine) is still run within the job's grace
                misfire_grace_time=max(int(job.catch_up_grace_s), 1),
            )
        aps.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        aps.start()
        return aps

    def _fire(self, name: str) -> None:
        self.submit(name, "schedule")

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        try:
            with self._db() as db:
                records.set_last_fire(
                    db, event.job_id, max(event.scheduled_run_times), self.clock.now()
                )
        except Exception:
            self.log.exception(f"job {event.job_id}: could not record its fire time")

    def next_fire(self, name: str) -> datetime | None:
        """When APScheduler fires the job next (None when stopped or disabled)."""
        job = self._aps.get_job(name) if self._aps is not None else None
        return job.next_run_time if job is not None else None

    def submit(self, name: str, trigger: str, retry_of: int | None = None) -> bool:
        """Start a run of ``name`` in its own thread; False (logged) if one is going on."""
        job = self.config.job(name)
        with self._guard:
            if self._stop.is_set():
                return False
            if name in self._active:
                current = self._active[name].run_id
                self.log.warning(
                    f"job {name}: {trigger} run skipped, run {current} is still going",
                    extra={"fields": {"job": name, "skipped": trigger}},
                )
                return False
            active = Active(name)
            dispatch = Dispatch(job, self._kind(job), trigger, retry=True, retry_of=retry_of)
            thread = threading.Thread(
                target=self._dispatch, args=(dispatch, active), name=f"job-{name}", daemon=True
            )
            self._active[name], self._threads[name] = active, thread
            thread.start()
        return True

    def _dispatch(self, dispatch: Dispatch, active: Active) -> None:
        name = dispatch.job.name
        try:
            run = self._executor.execute(dispatch, active)
            self._answer_retrain_requests(dispatch, run)
        except JobBusy as exc:
            self.log.warning(
                f"job {name}: {dispatch.trigger} run skipped: {exc}",
                extra={"fields": {"job": name, "skipped": dispatch.trigger}},
            )
        except Exception as exc:  # the scheduler itself must outlive anything a job does
            self.log.exception(
                f"job {name}: could not be run: {type(exc).__name__}: {exc}",
                extra={"fields": {"job": name}},
            )
        finally:
            with self._guard:
                self._active.pop(name, None)
                self._threads.pop(name, None)

    def _answer_retrain_requests(self, dispatch: Dispatch, run: records.JobRun) -> None:
        """Monitoring alerts that request a retrain: a drift or performance run that leaves
        some unanswered starts the retrain job (trigger ``drift-alert``); when that run
        ends, the requests are marked answered by it."""
        from appliance.monitoring import claim_retrain_requests, pending_retrains

        with self._db() as db:
            pending = [i for ids in pending_retrains(db).values() for i in ids]
            if pending and dispatch.trigger == "drift-alert":
                claim_retrain_requests(db, pending, run.id)
                return
        monitoring = dispatch.kind.name in ("drift", "performance")
        if not pending or not monitoring or run.status != "ok":
            return
        retrain = next((j for j in self._enabled if j.kind == "retrain"), None)
        if retrain is not None:
            self.submit(retrain.name, "drift-alert")

    def run_now(self, name: str, trigger: str = "manual", *, retry: bool = False) -> records.JobRun:
        """Run ``name`` in the caller's thread and return its last run (JobBusy if running)."""
        job = self.config.job(name)
        return self._executor.execute(Dispatch(job, self._kind(job), trigger, retry=retry))

    def _kind(self, job: JobConfig) -> JobKind:
        from appliance.errors import SchemaError

        if job.kind not in self.catalogue:
            raise SchemaError(f"{self.config.origin}: [jobs.{job.name}]: no job kind {job.kind!r}")
        return self.catalogue[job.kind]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is going on (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._guard:
                threads = list(self._threads.values())
            if not threads:
                return True
            threads[0].join(max(0.0, min(0.1, deadline - time.monotonic())))
        return False

    def stop(self, timeout: float) -> list[str]:
        """Stop firing, give running jobs ``timeout`` seconds, then stop their workers;
        runs still going are marked interrupted (re-run on the next start). Returns the
        names of the jobs interrupted."""
        self._stop.set()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        self.wait_idle(timeout)
        with self._guard:
            leftovers = list(self._active.values())
            threads = dict(self._threads)
        for active in leftovers:
            worker = active.worker
            if worker is not None:
                stop_worker(worker, _WORKER_STOP_S)
                threads[active.job].join(_WORKER_STOP_S)
            if active.run_id is not None:
                with self._db() as db:
                    records.end_run(
                        db,
                        active.run_id,
                        "interrupted",
                        self.clock.now(),
                        error=(
                            "the service stopped before the run finished; it runs again on the "
                            "next start"
                        ),
                    )
            self.log.warning(
                f"job {active.job} run {active.run_id} interrupted by the shutdown",
                extra={"fields": {"job": active.job, "run": active.run_id}},
            )
        return [active.job for active in leftovers]

    def _db(self) -> AbstractContextManager[Database]:
        from appliance.store.db import opened

        return opened(self.home.db_path, migrate_schema=True)

    def describe(self) -> dict[str, Any]:
        """Which jobs are running now (for logs and status lines)."""
        with self._guard:
            return {name: active.run_id for name, active in self._active.items()}
