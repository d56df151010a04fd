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

_JOBS = """
CREATE TABLE job_runs (
    id              INTEGER PRIMARY KEY,
    job             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    trigger         TEXT NOT NULL
                    CHECK (trigger IN ('schedule', 'catch-up', 'manual', 'drift-alert')),
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    error           TEXT,
    rows_processed  INTEGER NOT NULL DEFAULT 0 CHECK (rows_processed >= 0),
    artifacts       TEXT NOT NULL DEFAULT '[]'
                    CHECK (json_valid(artifacts) AND json_type(artifacts) = 'array'),
    summary         TEXT NOT NULL DEFAULT '',
    attempt         INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    retry_of        INTEGER REFERENCES job_runs(id),
    pid             INTEGER,
    CHECK ((status = 'running') = (ended_at IS NULL)),
    CHECK (status != 'failed' OR error IS NOT NULL)
);
CREATE INDEX job_runs_by_job ON job_runs (job, id);
CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'running';

CREATE TABLE job_schedule (
    job           TEXT PRIMARY KEY,
    last_fire_at  TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE job_alerts (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    job      TEXT NOT NULL,
    run_id   INTEGER REFERENCES job_runs(id),
    message  TEXT NOT NULL
);
CREATE INDEX job_alerts_by_time ON job_alerts (at);
"""

# API keys (appliance.access): the secret is never stored, only a salted scrypt hash of the
# whole key (parameters inside ``hash``). A key's identity and hash never change, a revoked key
# stays revoked, and rows are never deleted, so who could do what stays on record.
_API_KEYS = """
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY CHECK (length(id) = 12),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT NOT NULL CHECK (role IN ('scorer', 'analyst', 'admin')),
    salt          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT,
    last_used_at  TEXT,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE TRIGGER api_keys_fixed BEFORE UPDATE OF id, name, role, salt, hash, created_at, created_by
ON api_keys
BEGIN SELECT RAISE(ABORT, 'an API key cannot be changed; revoke it and create a new one'); END;
CREATE TRIGGER api_keys_stay_revoked BEFORE UPDATE OF revoked_at, revoked_by ON api_keys
WHEN OLD.revoked_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a revoked API key stays revoked'); END;
CREATE TRIGGER api_keys_no_delete BEFORE DELETE ON api_keys
BEGIN SELECT RAISE(ABORT, 'API keys are never deleted; revoke them'); END;
"""

_PREDICTIONS = """
CREATE TABLE predictions (
    id              INTEGER PRIMARY KEY,
    request_id      TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('production', 'challenger', 'shadow')),
    served          INTEGER NOT NULL CHECK (served IN (0, 1)),
    at              TEXT NOT NULL,
    model           TEXT NOT NULL,
    version         INTEGER NOT NULL,
    entity_id       TEXT,
    application_id  TEXT,
    input           TEXT NOT NULL CHECK (json_valid(input)),
    features        TEXT NOT NULL CHECK (json_valid(features)),
    probability     REAL,
    score           REAL,
    decision        TEXT NOT NULL,
    reasons         TEXT NOT NULL CHECK (json_valid(reasons)),
    latency_ms      REAL NOT NULL,
    key_id          TEXT,
    UNIQUE (request_id, role),
    CHECK (role != 'shadow' OR served = 0)
);
CREATE INDEX predictions_by_model_time ON predictions (model, at);
CREATE INDEX predictions_by_application ON predictions (application_id)
    WHERE application_id IS NOT NULL;
CREATE INDEX predictions_by_entity ON predictions (entity_id) WHERE entity_id IS NOT NULL;
CREATE TRIGGER predictions_no_update BEFORE UPDATE ON predictions
BEGIN SELECT RAISE(ABORT, 'the prediction log is append-only'); END;

CREATE TABLE outcomes (
    id              INTEGER PRIMARY KEY,
    request_id      TEXT,
    application_id  TEXT,
    model           TEXT,
    outcome         INTEGER NOT NULL CHECK (outcome IN (0, 1)),
    observed_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    updated_at      TEXT,
    key_id          TEXT,
    CHECK ((request_id IS NULL) != (application_id IS NULL)),
    CHECK (application_id IS NULL OR model IS NOT NULL)
);
CREATE UNIQUE INDEX outcomes_by_request ON outcomes (request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX outcomes_by_application ON outcomes (application_id, model)
    WHERE application_id IS NOT NULL;
"""

# Monitoring (appliance.monitoring): one row per model version, window, subject and metric,
# recomputed in place while a window fills (UNIQUE keys); alerts deduplicated on what breached
# where, each re-detection counted on the same row. docs/monitoring.md lists every column.
_MONITORING = """
CREATE TABLE drift_results (
    id            INTEGER PRIMARY KEY,
    model         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    window_kind   TEXT NOT NULL CHECK (window_kind IN ('day', 'week', 'month')),
    window_start  TEXT NOT NULL,
    window_end    TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('drift', 'skew')),
    feature       TEXT NOT NULL,
    metric        TEXT NOT NULL,
    value         REAL,
    level         TEXT CHECK (level IS NULL OR level IN ('stable', 'watch', 'act')),
    rows          INTEGER NOT NULL CHECK (rows >= 0),
    detail        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    computed_at   TEXT NOT NULL,
    UNIQUE (model, version, window_kind, window_start, kind, feature, metric)
);
CREATE INDEX drift_results_by_model ON drift_results (model, window_kind, window_start);

CREATE TABLE performance_results (
    id            INTEGER PRIMARY KEY,
    model         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    window_kind   TEXT NOT NULL CHECK (window_kind IN ('day', 'week', 'month')),
    window_start  TEXT NOT NULL,
    window_end    TEXT NOT NULL,
    metric        TEXT NOT NULL,
    estimated     INTEGER NOT NULL CHECK (estimated IN (0, 1)),
    value         REAL,
    level         TEXT CHECK (level IS NULL OR level IN ('stable', 'watch', 'act')),
    rows          INTEGER NOT NULL CHECK (rows >= 0),
    labelled      INTEGER NOT NULL CHECK (labelled >= 0 AND labelled <= rows),
    detail        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    computed_at   TEXT NOT NULL,
    UNIQUE (model, version, window_kind, window_start, metric, estimated)
);
CREATE INDEX performance_results_by_model ON performance_results (model, window_kind, window_start);

CREATE TABLE fairness_results (
    id               INTEGER PRIMARY KEY,
    model            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    window_kind      TEXT NOT NULL CHECK (window_kind IN ('day', 'week', 'month')),
    window_start     TEXT NOT NULL,
    window_end       TEXT NOT NULL,
    attribute        TEXT NOT NULL,
    group_name       TEXT NOT NULL,
    rows             INTEGER NOT NULL CHECK (rows >= 0),
    eligible         INTEGER NOT NULL CHECK (eligible IN (0, 1)),
    approval_rate    REAL,
    labelled         INTEGER NOT NULL CHECK (labelled >= 0),
    tpr              REAL,
    fpr              REAL,
    impact_ratio     REAL,
    four_fifths_pass INTEGER CHECK (four_fifths_pass IS NULL OR four_fifths_pass IN (0, 1)),
    computed_at      TEXT NOT NULL,
    UNIQUE (model, version, window_kind, window_start, attribute, group_name)
);
CREATE INDEX fairness_results_by_model ON fairness_results (model, window_kind, window_start);

CREATE TABLE alerts (
    id                 INTEGER PRIMARY KEY,
    created_at         TEXT NOT NULL,
    last_seen_at       TEXT NOT NULL,
    occurrences        INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    model              TEXT NOT NULL,
    version            INTEGER NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('drift', 'skew', 'performance', 'fairness')),
    subject            TEXT NOT NULL,
    metric             TEXT NOT NULL,
    level              TEXT NOT NULL CHECK (level IN ('watch', 'act')),
    value              REAL,
    threshold          REAL,
    window_kind        TEXT NOT NULL CHECK (window_kind IN ('day', 'week', 'month')),
    window_start       TEXT NOT NULL,
    window_end         TEXT NOT NULL,
    message            TEXT NOT NULL,
    retrain_requested  INTEGER NOT NULL DEFAULT 0 CHECK (retrain_requested IN (0, 1)),
    retrain_run_id     INTEGER,
    delivered_at       TEXT,
    delivery_attempts  INTEGER NOT NULL DEFAULT 0 CHECK (delivery_attempts >= 0),
    delivery_error     TEXT,
    UNIQUE (model, version, kind, subject, metric, window_kind, window_start)
);
CREATE INDEX alerts_by_time ON alerts (created_at);
CREATE INDEX alerts_pending_retrain ON alerts (model)
    WHERE retrain_requested = 1 AND retrain_run_id IS NULL;
"""

# Publishing (connectors): per subject area the extract version and when it was written;
# per published table its schema fingerprint, high-water mark (incremental tables) and
# row count as of the last publish. The extracts carry the same numbers, so a publish cut
# off between writing a file and recording it is noticed and rebuilt in full.
_PUBLISH = """
CREATE TABLE publish_extracts (
    subject        TEXT PRIMARY KEY,
    version        INTEGER NOT NULL CHECK (version >= 1),
    path           TEXT NOT NULL,
    mode           TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
    published_at   TEXT NOT NULL
);

CREATE TABLE publish_marks (
    table_name     TEXT PRIMARY KEY,
    subject        TEXT NOT NULL REFERENCES publish_extracts(subject),
    schema_sha256  TEXT NOT NULL CHECK (length(schema_sha256) = 64),
    version        INTEGER NOT NULL CHECK (version >= 1),
    high_water     INTEGER,
    rows           INTEGER NOT NULL CHECK (rows >= 0),
    published_at   TEXT NOT NULL
);
"""

# Segmentation (appliance.segmentation): k-means versions per use case, versioned like models
# (artifact JSON hashed at registration, a production pointer), and every population entity's
# segment per version, for BI. ``production_customer_segments`` is what a dashboard reads.
_SEGMENTATION = """
CREATE TABLE segmentations (
    usecase          TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    created_at       TEXT NOT NULL,
    trained_at       TEXT NOT NULL,
    duration_s       REAL NOT NULL CHECK (duration_s >= 0),
    artifact_path    TEXT NOT NULL,
    artifact_sha256  TEXT NOT NULL CHECK (length(artifact_sha256) = 64),
    k                INTEGER NOT NULL CHECK (k >= 2),
    silhouette       REAL,
    features         TEXT NOT NULL CHECK (json_valid(features) AND json_type(features) = 'array'),
    spec_sha256      TEXT NOT NULL,
    rows             INTEGER NOT NULL CHECK (rows >= 0),
    report_path      TEXT,
    status           TEXT NOT NULL DEFAULT 'registered'
                     CHECK (status IN ('registered', 'rejected')),
    PRIMARY KEY (usecase, version)
);
CREATE TRIGGER segmentations_fixed
BEFORE UPDATE OF usecase, version, artifact_path, artifact_sha256, k, features ON segmentations
BEGIN SELECT RAISE(ABORT, 'a registered segmentation cannot be changed; train a new version'); END;

CREATE TABLE segmentation_production (
    usecase     TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    FOREIGN KEY (usecase, version) REFERENCES segmentations(usecase, version)
);

CREATE TABLE customer_segments (
    usecase      TEXT NOT NULL,
    version      INTEGER NOT NULL,
    entity_id    TEXT NOT NULL,
    segment      INTEGER NOT NULL CHECK (segment >= 0),
    assigned_at  TEXT NOT NULL,
    PRIMARY KEY (usecase, version, entity_id),
    FOREIGN KEY (usecase, version) REFERENCES segmentations(usecase, version)
) WITHOUT ROWID;

CREATE VIEW production_customer_segments AS
SELECT c.usecase, c.version, c.entity_id, c.segment, c.assigned_at
FROM customer_segments c
JOIN segmentation_production p ON p.usecase = c.usecase AND p.version = c.version;
"""

_REGRESSION = """
-- what kind of model answered, and the amount a regression predicts (NULL for classifiers,
-- whose answer stays in probability/score/decision)
ALTER TABLE predictions ADD COLUMN kind TEXT NOT NULL DEFAULT 'classification'
    CHECK (kind IN ('classification', 'regression'));
ALTER TABLE predictions ADD COLUMN prediction REAL;
"""

# A regression's outcome is the actual amount: ``outcome`` (0/1) or ``actual`` (a number),
# exactly one of them. SQLite cannot change a column's constraints in place: the table is
# rebuilt with every row kept.
_ACTUALS = """
CREATE TABLE outcomes_v10 (
    id              INTEGER PRIMARY KEY,
    request_id      TEXT,
    application_id  TEXT,
    model           TEXT,
    outcome         INTEGER CHECK (outcome IN (0, 1)),
    actual          REAL,
    observed_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    updated_at      TEXT,
    key_id          TEXT,
    CHECK ((outcome IS NULL) != (actual IS NULL)),
    CHECK ((request_id IS NULL) != (application_id IS NULL)),
    CHECK (application_id IS NULL OR model IS NOT NULL)
);
INSERT INTO outcomes_v10 (id, request_id, application_id, model, outcome, observed_at,
                          recorded_at, updated_at, key_id)
SELECT id, request_id, application_id, model, outcome, observed_at, recorded_at, updated_at,
       key_id FROM outcomes;
DROP TABLE outcomes;
ALTER TABLE outcomes_v10 RENAME TO outcomes;
CREATE UNIQUE INDEX outcomes_by_request ON outcomes (request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX outcomes_by_application ON outcomes (application_id, model)
    WHERE application_id IS NOT NULL;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "foundation", _FOUNDATION),
    Migration(2, "registry", _REGISTRY),
    Migration(3, "jobs", _JOBS),
    Migration(4, "api_keys", _API_KEYS),
    Migration(5, "predictions", _PREDICTIONS),
    Migration(6, "monitoring", _MONITORING),
    Migration(7, "publish", _PUBLISH),
    Migration(8, "regression", _REGRESSION),
    Migration(9, "segmentation", _SEGMENTATION),
    Migration(10, "actuals", _ACTUALS),
)
