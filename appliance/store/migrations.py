"""Numbered schema migrations for the store.

Each migration runs in one transaction together with the row that records it in
``schema_migrations``, so a crash leaves the schema at the previous number. Later
issues add their tables by appending a new ``Migration`` here; never edit one that
has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration"]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


_FOUNDATION = """
CREATE TABLE datasets (
    name        TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE ingest_runs (
    id                INTEGER PRIMARY KEY,
    dataset           TEXT NOT NULL REFERENCES datasets(name),
    source_file       TEXT NOT NULL,
    source_sha256     TEXT NOT NULL,
    schema_sha256     TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    status            TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    rows_in           INTEGER NOT NULL DEFAULT 0,
    rows_ok           INTEGER NOT NULL DEFAULT 0,
    rows_quarantined  INTEGER NOT NULL DEFAULT 0,
    version           TEXT,
    quarantine_path   TEXT,
    error             TEXT,
    CHECK (status != 'ok' OR rows_in = rows_ok + rows_quarantined)
);
CREATE INDEX ingest_runs_by_file ON ingest_runs (dataset, source_sha256, schema_sha256, status);

CREATE TABLE dataset_versions (
    id             INTEGER PRIMARY KEY,
    dataset        TEXT NOT NULL REFERENCES datasets(name),
    version        TEXT NOT NULL,
    path           TEXT NOT NULL,
    rows           INTEGER NOT NULL,
    schema_json    TEXT NOT NULL,
    time_column    TEXT,
    time_min       TEXT,
    time_max       TEXT,
    source_file    TEXT NOT NULL,
    source_sha256  TEXT NOT NULL,
    ingest_run_id  INTEGER NOT NULL REFERENCES ingest_runs(id),
    created_at     TEXT NOT NULL,
    UNIQUE (dataset, version)
);

CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    ingest_run_id  INTEGER NOT NULL REFERENCES ingest_runs(id),
    column_name    TEXT,
    reason         TEXT NOT NULL,
    rows           INTEGER NOT NULL,
    path           TEXT NOT NULL
);
CREATE INDEX quarantine_by_run ON quarantine (ingest_run_id);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "foundation", _FOUNDATION),)
