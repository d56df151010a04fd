"""Job runs, last fire times and alerts in the store (tables of migration 3).

A run is inserted ``running`` and ended exactly once: every ending update is
conditional on the row still being ``running``, so a run already marked
``interrupted`` (by a shutdown that did not wait for it) keeps that mark.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from scheduler.clock import iso

__all__ = [
    "STATUSES",
    "TRIGGERS",
    "Alert",
    "JobRun",
    "add_alert",
    "end_run",
    "get_run",
    "last_fire",
    "latest_runs",
    "list_alerts",
    "list_runs",
    "running_runs",
    "set_last_fire",
    "set_pid",
    "start_run",
]

TRIGGERS = ("schedule", "catch-up", "manual", "drift-alert")
STATUSES = ("running", "ok", "failed", "interrupted")
_COLUMNS = (
    "id, job, kind, trigger, started_at, ended_at, status, error, rows_processed, artifacts,"
    " summary, attempt, retry_of, pid"
)


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    kind: str
    trigger: str
    started_at: str
    ended_at: str | None
    status: str
    error: str | None
    rows: int
    artifacts: list[str]
    summary: str
    attempt: int
    retry_of: int | None
    pid: int | None

    @property
    def seconds(self) -> float | None:
        """How long it ran (None while running)."""
        if self.ended_at is None:
            return None
        took = datetime.fromisoformat(self.ended_at) - datetime.fromisoformat(self.started_at)
        return max(took.total_seconds(), 0.0)


@dataclass(frozen=True)
class Alert:
    id: int
    at: str
    job: str
    run_id: int | None
    message: str


def _run(row: Sequence[Any]) -> JobRun:
    values = list(row)
    values[9] = json.loads(values[9])
    return JobRun(*values)


def start_run(
    db: Database,
    job: str,
    kind: str,
    trigger: str,
    at: datetime,
    *,
    attempt: int = 1,
    retry_of: int | None = None,
    pid: int | None = None,
) -> int:
    """Insert a ``running`` run; returns its id."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
    cursor = db.execute(
        "INSERT INTO job_runs (job, kind, trigger, started_at, status, attempt, retry_of, pid)"
        " VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
        [job, kind, trigger, iso(at), attempt, retry_of, pid],
    )
    return int(cursor.lastrowid or 0)


def set_pid(db: Database, run_id: int, pid: int) -> None:
    """Record the worker process running it (while it still runs)."""
    db.execute("UPDATE job_runs SET pid = ? WHERE id = ? AND status = 'running'", [pid, run_id])


def end_run(
    db: Database,
    run_id: int,
    status: str,
    at: datetime,
    *,
    error: str | None = None,
    rows: int = 0,
    artifacts: Sequence[str] = (),
    summary: str = "",
) -> bool:
    """End a running run; False (and nothing changed) if it had already ended."""
    if status not in STATUSES or status == "running":
        raise ValueError(f"a run ends as ok, failed or interrupted, not {status!r}")
    cursor = db.execute(
        "UPDATE job_runs SET status = ?, ended_at = ?, error = ?, rows_processed = ?,"
        " artifacts = ?, summary = ? WHERE id = ? AND status = 'running'",
        [status, iso(at), error, max(int(rows), 0), json.dumps(list(artifacts)), summary, run_id],
    )
    return cursor.rowcount == 1


def get_run(db: Database, run_id: int) -> JobRun:
    row = db.execute(f"SELECT {_COLUMNS} FROM job_runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        from appliance.errors import NotFound

        raise NotFound(f"no job run {run_id}")
    return _run(row)


def list_runs(db: Database, job: str | None = None, limit: int = 50) -> list[JobRun]:
    """The newest runs first, of one job or of all."""
    where, params = ("WHERE job = ?", [job]) if job else ("", [])
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM job_runs {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    ).fetchall()
    return [_run(row) for row in rows]


def latest_runs(db: Database) -> dict[str, JobRun]:
    """Each job's newest run."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM job_runs WHERE id IN (SELECT max(id) FROM job_runs GROUP BY job)"
    ).fetchall()
    return {run.job: run for run in map(_run, rows)}


def running_runs(db: Database) -> list[JobRun]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM job_runs WHERE status = 'running' ORDER BY id"
    ).fetchall()
    return [_run(row) for row in rows]


def last_fire(db: Database, job: str) -> datetime | None:
    """The scheduled time of the job's latest fire (or catch-up), None if never."""
    row = db.execute("SELECT last_fire_at FROM job_schedule WHERE job = ?", [job]).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def set_last_fire(db: Database, job: str, fired: datetime, at: datetime) -> None:
    """Record a fire; never moves the time backwards."""
    db.execute(
        "INSERT INTO job_schedule (job, last_fire_at, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (job) DO UPDATE SET"
        " last_fire_at = max(last_fire_at, excluded.last_fire_at),"
        " updated_at = excluded.updated_at",
        [job, iso(fired), iso(at)],
    )


def add_alert(db: Database, job: str, run_id: int | None, message: str, at: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO job_alerts (at, job, run_id, message) VALUES (?, ?, ?, ?)",
        [iso(at), job, run_id, message],
    )
    return int(cursor.lastrowid or 0)


def list_alerts(
    db: Database, since: datetime | None = None, limit: int = 50, run_id: int | None = None
) -> list[Alert]:
    """The newest alerts first (only those at or after ``since``, or of one run)."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("at >= ?")
        params.append(iso(since))
    if run_id is not None:
        clauses.append("run_id = ?")
        params.append(run_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute(
        f"SELECT id, at, job, run_id, message FROM job_alerts {where} ORDER BY id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [Alert(*row) for row in rows]
