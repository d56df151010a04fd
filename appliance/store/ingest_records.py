"""Ingest runs, dataset versions and quarantine summaries in the store."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from appliance.store.db import now_iso

__all__ = [
    "IngestRun",
    "NewVersion",
    "QuarantineCount",
    "completed_run_for",
    "fail_run",
    "finish_run",
    "get_run",
    "list_runs",
    "quarantine_counts",
    "running_runs",
    "schema_as_json",
    "start_run",
]

_RUN_COLUMNS = (
    "id, dataset, source_file, source_sha256, started_at, finished_at, status, rows_in,"
    " rows_ok, rows_quarantined, version, quarantine_path, error"
)


@dataclass(frozen=True)
class IngestRun:
    id: int
    dataset: str
    source_file: str
    source_sha256: str
    started_at: str
    finished_at: str | None
    status: str
    rows_in: int
    rows_ok: int
    rows_quarantined: int
    version: str | None
    quarantine_path: str | None
    error: str | None


@dataclass(frozen=True)
class QuarantineCount:
    column: str | None
    reason: str
    rows: int


@dataclass(frozen=True)
class NewVersion:
    version: str
    path: str
    rows: int
    schema_json: str
    time_column: str | None
    time_min: str | None
    time_max: str | None


def start_run(
    db: Database, dataset: str, source: str, source_file: str, sha256: str, schema_sha256: str
) -> int:
    with db.atomic():
        db.execute(
            "INSERT OR IGNORE INTO datasets (name, source, created_at) VALUES (?, ?, ?)",
            [dataset, source, now_iso()],
        )
        cursor = db.execute(
            "INSERT INTO ingest_runs (dataset, source_file, source_sha256, schema_sha256,"
            " started_at, status) VALUES (?, ?, ?, ?, ?, 'running')",
            [dataset, source_file, sha256, schema_sha256, now_iso()],
        )
    return int(cursor.lastrowid or 0)


def finish_run(
    db: Database,
    run_id: int,
    counts: tuple[int, int, int],
    version: NewVersion | None,
    quarantine: list[QuarantineCount],
    quarantine_path: str | None,
) -> None:
    """Record a completed run, its dataset version and quarantine summary (one transaction
    when called inside ``db.atomic()``)."""
    rows_in, rows_ok, rows_quarantined = counts
    run = get_run(db, run_id)
    if version is not None:
        db.execute(
            "INSERT OR IGNORE INTO dataset_versions (dataset, version, path, rows, schema_json,"
            " time_column, time_min, time_max, source_file, source_sha256, ingest_run_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run.dataset, version.version, version.path, version.rows, version.schema_json,
                version.time_column, version.time_min, version.time_max, run.source_file,
                run.source_sha256, run_id, now_iso(),
            ],
        )  # fmt: skip
    for item in quarantine:
        db.execute(
            "INSERT INTO quarantine (ingest_run_id, column_name, reason, rows, path)"
            " VALUES (?, ?, ?, ?, ?)",
            [run_id, item.column, item.reason, item.rows, quarantine_path],
        )
    db.execute(
        "UPDATE ingest_runs SET status = 'ok', finished_at = ?, rows_in = ?, rows_ok = ?,"
        " rows_quarantined = ?, version = ?, quarantine_path = ? WHERE id = ?",
        [now_iso(), rows_in, rows_ok, rows_quarantined,
         version.version if version else None, quarantine_path, run_id],
    )  # fmt: skip


def fail_run(db: Database, run_id: int, error: str, kept_at: str | None) -> None:
    with db.atomic():
        if kept_at:
            db.execute(
                "INSERT INTO quarantine (ingest_run_id, column_name, reason, rows, path)"
                " VALUES (?, NULL, ?, 0, ?)",
                [run_id, f"whole file: {error}", kept_at],
            )
        db.execute(
            "UPDATE ingest_runs SET status = 'failed', finished_at = ?, error = ?,"
            " quarantine_path = ? WHERE id = ?",
            [now_iso(), error, kept_at, run_id],
        )


def get_run(db: Database, run_id: int) -> IngestRun:
    row = db.execute(f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE id = ?", [run_id]).fetchone()
    return IngestRun(*row)


def completed_run_for(
    db: Database, dataset: str, sha256: str, schema_sha256: str
) -> IngestRun | None:
    """The successful run that already ingested this exact file with this exact schema."""
    row = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE dataset = ? AND source_sha256 = ?"
        " AND schema_sha256 = ? AND status = 'ok' ORDER BY id LIMIT 1",
        [dataset, sha256, schema_sha256],
    ).fetchone()
    return IngestRun(*row) if row else None


def list_runs(db: Database, dataset: str | None = None, limit: int = 50) -> list[IngestRun]:
    where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingest_runs {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    ).fetchall()
    return [IngestRun(*row) for row in rows]


def running_runs(db: Database, dataset: str) -> list[IngestRun]:
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE dataset = ? AND status = 'running'"
        " ORDER BY id",
        [dataset],
    ).fetchall()
    return [IngestRun(*row) for row in rows]


def quarantine_counts(db: Database, run_id: int) -> list[QuarantineCount]:
    rows = db.execute(
        "SELECT column_name, reason, rows FROM quarantine WHERE ingest_run_id = ?"
        " ORDER BY rows DESC",
        [run_id],
    ).fetchall()
    return [QuarantineCount(*row) for row in rows]


def schema_as_json(fields: list[tuple[str, str]]) -> str:
    return json.dumps([{"name": n, "type": t} for n, t in fields])
