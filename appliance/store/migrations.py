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

_REGISTRY = """
CREATE TABLE models (
    name         TEXT PRIMARY KEY,
    usecase      TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);

CREATE TABLE model_versions (
    model           TEXT NOT NULL REFERENCES models(name),
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_at      TEXT NOT NULL,
    trained_at      TEXT NOT NULL,
    duration_s      REAL NOT NULL CHECK (duration_s >= 0),
    booster_path    TEXT NOT NULL,
    booster_sha256  TEXT NOT NULL CHECK (length(booster_sha256) = 64),
    booster_format  TEXT NOT NULL CHECK (booster_format IN ('ubj', 'json')),
    params          TEXT NOT NULL CHECK (json_valid(params)),
    metrics         TEXT NOT NULL CHECK (json_valid(metrics)),
    feature_schema  TEXT NOT NULL CHECK (json_valid(feature_schema)),
    datasets        TEXT NOT NULL CHECK (json_valid(datasets) AND json_type(datasets) = 'array'),
    spec            TEXT NOT NULL CHECK (json_valid(spec)),
    spec_sha256     TEXT NOT NULL,
    code_version    TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    reference       TEXT NOT NULL CHECK (json_valid(reference)),
    card_path       TEXT,
    compile         TEXT CHECK (compile IS NULL OR json_valid(compile)),
    status          TEXT NOT NULL DEFAULT 'registered'
                    CHECK (status IN ('registered', 'rejected')),
    PRIMARY KEY (model, version)
);

CREATE TABLE model_aliases (
    model       TEXT NOT NULL,
    alias       TEXT NOT NULL CHECK (alias IN ('production', 'challenger', 'shadow')),
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);

CREATE TABLE alias_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model             TEXT NOT NULL REFERENCES models(name),
    alias             TEXT NOT NULL CHECK (alias IN ('production', 'challenger', 'shadow')),
    version           INTEGER,
    previous_version  INTEGER,
    action            TEXT NOT NULL CHECK (action IN ('promote', 'rollback', 'assign', 'clear')),
    actor             TEXT NOT NULL,
    reason            TEXT NOT NULL,
    at                TEXT NOT NULL,
    FOREIGN KEY (model, version) REFERENCES model_versions(model, version),
    FOREIGN KEY (model, previous_version) REFERENCES model_versions(model, version),
    CHECK ((action = 'clear') = (version IS NULL))
);
CREATE INDEX alias_events_by_alias ON alias_events (model, alias, id);
CREATE TRIGGER alias_events_no_update BEFORE UPDATE ON alias_events
BEGIN SELECT RAISE(ABORT, 'alias_events is append-only'); END;
CREATE TRIGGER alias_events_no_delete BEFORE DELETE ON alias_events
BEGIN SELECT RAISE(ABORT, 'alias_events is append-only'); END;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "foundation", _FOUNDATION),
    Migration(2, "registry", _REGISTRY),
)
