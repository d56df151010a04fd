"""Running a job function once and recording how it ended: the same code in the
runner's process (light jobs) and in a worker process (heavy jobs)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from appliance.errors import ApplianceError
from appliance.home import DataHome
from scheduler import records
from scheduler.catalogue import JobKind
from scheduler.clock import iso
from scheduler.errors import is_permanent
from scheduler.job import JobContext, JobResult
from scheduler.locks import job_log_dir

__all__ = ["Attempt", "error_text", "run_and_record", "run_log_path"]


@dataclass(frozen=True)
class Attempt:
    """How one attempt ended, as its process saw it."""

    status: str
    permanent: bool = False
    """A failure another attempt cannot fix."""


def run_log_path(home: DataHome, job: str, run_id: int) -> Path:
    """``logs/jobs/<job>-<run id>.log``: the run's progress lines and any traceback."""
    return job_log_dir(home) / f"{job}-{run_id}.log"


def error_text(exc: BaseException, log_path: Path | None = None) -> str:
    """One line for the run record: a user-facing message as it is, anything else with
    its type and where the traceback is."""
    if isinstance(exc, ApplianceError):
        return str(exc)
    where = f" (traceback in logs/jobs/{log_path.name})" if log_path else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_and_record(
    home: DataHome,
    run_id: int,
    kind: JobKind,
    params: Mapping[str, Any],
    started: datetime,
    now: Callable[[], datetime],
    log: TextIO,
    job: str,
) -> Attempt:
    """Run ``kind`` on a fresh store connection and end the run record accordingly.

    Problems the job reports become alerts. Never raises for the job's own failure."""
    from appliance.store.db import connect

    log_path = run_log_path(home, job, run_id)

    def progress(line: str) -> None:
        log.write(f"{iso(now())} {line}\n")
        log.flush()

    db = connect(home.db_path)
    try:
        try:
            function = kind.load()
            result = function(JobContext(home, db, params, started, progress=progress))
            if not isinstance(result, JobResult):
                raise TypeError(
                    f"job {kind.target} returned {type(result).__name__}, not a JobResult"
                )
        except Exception as exc:
            progress(f"failed: {traceback.format_exc()}")
            records.end_run(db, run_id, "failed", now(), error=error_text(exc, log_path))
            return Attempt("failed", is_permanent(exc))
        progress(f"done: {result.summary}")
        with db.atomic():
            ended = records.end_run(
                db,
                run_id,
                "ok",
                now(),
                rows=result.rows,
                artifacts=result.artifacts,
                summary=result.summary,
            )
            for problem in result.problems:
                records.add_alert(db, job, run_id, problem, now())
        return Attempt("ok" if ended else "interrupted")
    finally:
        db.close()
