"""The published tables: one declarative entry each (a new table is one more entry).

BI dashboards are built on these names and types, so they are a public interface: add
columns (a new extract version), never rename or retype one in place.
docs/connectors.md documents every column, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from connectors.columns import Column, Overlay, PublishedTable

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["SUBJECTS", "TABLES", "available_tables", "metric_rows", "table_named"]


def _reason(n: int, part: str) -> str:
    at = f"'$[{n - 1}]'"
    if part == "code":
        return (f"CASE json_type(p.reasons, {at}) WHEN 'object' THEN"
                f" json_extract(p.reasons, '$[{n - 1}].code') WHEN 'text' THEN"
                f" json_extract(p.reasons, {at}) END AS reason_{n}")  # fmt: skip
    return f"json_extract(p.reasons, '$[{n - 1}].text') AS reason_{n}_text"


_SCORES_SQL = f"""
SELECT p.id AS prediction_id, p.request_id, p.at AS scored_at, substr(p.at, 1, 10) AS scored_date,
       p.model, p.version, p.role, p.served, p.entity_id, p.application_id,
       CAST(coalesce(json_extract(p.input, '$.branch'), json_extract(p.input, '$.branch_id'))
            AS TEXT) AS branch,
       CAST(coalesce(json_extract(p.input, '$.region'), json_extract(p.input, '$.customer.region'))
            AS TEXT) AS region,
       p.kind, p.probability, p.score, p.decision, p.prediction,
       {", ".join(_reason(n, "code") for n in range(1, 5))},
       {", ".join(_reason(n, "text") for n in range(1, 5))},
       p.latency_ms,
       coalesce(r.outcome, a.outcome) AS outcome,
       coalesce(r.actual, a.actual) AS actual,
       coalesce(r.observed_at, a.observed_at) AS outcome_observed_at
FROM predictions p
LEFT JOIN outcomes r ON r.request_id = p.request_id
LEFT JOIN outcomes a ON a.application_id = p.application_id AND a.model = p.model
"""

# one row per scored request and role that has a known outcome; an outcome reported by
# request id wins over one reported by application id for the same prediction
_OUTCOMES_SQL = """
SELECT p.id AS prediction_id, p.request_id, p.model, p.version, o.outcome, o.actual,
       o.observed_at, coalesce(o.updated_at, o.recorded_at) AS recorded_at
FROM outcomes o JOIN predictions p ON p.request_id = o.request_id
WHERE o.request_id IS NOT NULL
UNION ALL
SELECT p.id, p.request_id, p.model, p.version, o.outcome, o.actual, o.observed_at,
       coalesce(o.updated_at, o.recorded_at)
FROM outcomes o JOIN predictions p ON p.application_id = o.application_id AND p.model = o.model
WHERE o.application_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM outcomes x WHERE x.request_id = p.request_id)
"""

_MODEL_VERSIONS_SQL = """
SELECT v.model, m.usecase, v.version, v.created_at, v.trained_at, v.duration_s, v.status,
       (SELECT group_concat(alias, ',') FROM
            (SELECT alias FROM model_aliases a
             WHERE a.model = v.model AND a.version = v.version ORDER BY alias)) AS aliases,
       EXISTS (SELECT 1 FROM model_aliases a WHERE a.model = v.model AND a.version = v.version
               AND a.alias = 'production') AS is_production,
       json_extract(v.metrics, '$.optimise') AS headline_metric,
       CAST(json_extract(v.metrics, '$.test.' || coalesce(json_extract(v.metrics, '$.optimise'),
                                                         'roc_auc')) AS REAL) AS headline_value,
       v.code_version, v.seed, v.booster_sha256
FROM model_versions v JOIN models m ON m.name = v.model
ORDER BY v.model, v.version
"""

_JOB_RUNS_SQL = """
SELECT id AS run_id, job, kind, trigger, started_at, ended_at,
       CASE WHEN ended_at IS NULL THEN NULL
            ELSE (julianday(ended_at) - julianday(started_at)) * 86400.0 END AS duration_s,
       status, error, rows_processed, attempt, retry_of, summary
FROM job_runs ORDER BY id
"""

_MAX_DEPTH = 5


def metric_rows(db: Database) -> Iterator[tuple[Any, ...]]:
    """Every numeric leaf of every version's metrics.json as ``(model, version, split,
    metric, value)``: ``split`` is the first key (``test``, ``validation``...), ``metric``
    the dotted rest (list items by index)."""
    import json

    query = "SELECT model, version, metrics FROM model_versions ORDER BY model, version"
    for model, version, text in db.execute(query).fetchall():
        for path, value in _leaves(json.loads(text), ()):
            split, metric = (path[0], ".".join(path[1:])) if len(path) > 1 else ("", path[0])
            yield model, version, split, metric, value


def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], float]]:
    if isinstance(value, bool) or len(path) > _MAX_DEPTH:
        return
    if isinstance(value, int | float) and path:
        if value == value and abs(value) != float("inf"):
            yield path, float(value)
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], (*path, str(key)))
    elif isinstance(value, list) and len(value) <= 100:
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, str(i)))


def _c(name: str, kind: str, doc: str, nullable: bool = True) -> Column:
    return Column(name, kind, doc, nullable)


_SCORE_COLUMNS = (
    _c("prediction_id", "bigint", "Row id in the prediction log; increases with time", False),
    _c("request_id", "text", "The id returned to the caller (shared by a shadow answer)", False),
    _c("scored_at", "timestamp", "When the request arrived (UTC)", False),
    _c("scored_date", "date", "The UTC date of scored_at", False),
    _c("model", "text", "The model that answered", False),
    _c("version", "bigint", "The exact model version that answered", False),
    _c("role", "text", "production, challenger or shadow", False),
    _c("served", "boolean", "Whether this answer was returned to the caller", False),
    _c("entity_id", "text", "The customer, where the request named one"),
    _c("application_id", "text", "The bank's application id, where the request had one"),
    _c("branch", "text", "The request's branch (input field branch or branch_id)"),
    _c("region", "text", "The request's region (input field region or customer.region)"),
    _c("kind", "text", "classification (a probability and a decision) or regression (an"
       " amount)", False),
    _c("probability", "double", "The model's probability of the flagged event (default, fraud)"),
    _c("score", "double", "Points score (higher is better), where the use case has one"),
    _c("decision", "text", "The decision returned, e.g. approve or decline; predicted for a"
       " regression", False),
    _c("prediction", "double", "A regression's predicted amount (e.g. the premium to offer)"),
    *(_c(f"reason_{n}", "text", f"Reason code {n} (most important first)") for n in range(1, 5)),
    *(_c(f"reason_{n}_text", "text", f"Reason {n} in words") for n in range(1, 5)),
    _c("latency_ms", "double", "Time spent answering, in milliseconds", False),
    _c("outcome", "bigint", "What happened later: 1 the flagged event (bad), 0 not; empty"
       " until reported"),
    _c("actual", "double", "A regression's actual amount, once reported"),
    _c("outcome_observed_at", "date", "When the outcome was observed; empty until reported"),
)

def _version_window(what: str) -> tuple[Column, ...]:
    return (
        _c("model", "text", "Model", False),
        _c("version", "bigint", f"The model version {what}", False),
        _c("window_kind", "text", "day, week (ISO, Monday first) or month", False),
        _c("window_start", "date", "First day inside the window", False),
        _c("window_end", "date", "First day after the window", False),
    )


_APPROVED = "CASE WHEN ${TABLE}.decision = 'approve' THEN 1.0 ELSE 0.0 END"

TABLES: tuple[PublishedTable, ...] = (
    PublishedTable(
        name="scores",
        subject="scores",
        doc="One row per scored request and model role (production, challenger, shadow),"
        " with the outcome once it is known. Appended incrementally.",
        columns=_SCORE_COLUMNS,
        sql=_SCORES_SQL,
        key="prediction_id",
        mark_sql="SELECT max(id) FROM predictions",
        requires=("predictions", "outcomes"),
        checks=("prediction_id", "probability", "score"),
        overlay=Overlay(
            "outcomes", "prediction_id",
            (("outcome", "outcome"), ("actual", "actual"),
             ("outcome_observed_at", "observed_at")),
        ),
        measures=(
            ("average_probability", "average", "${TABLE}.probability"),
            ("average_score", "average", "${TABLE}.score"),
            ("approval_rate", "average", _APPROVED),
            ("bad_rate", "average", "${TABLE}.outcome"),
            ("outcomes_known", "sum", "CASE WHEN ${TABLE}.outcome IS NOT NULL THEN 1 ELSE 0 END"),
        ),
    ),
    PublishedTable(
        name="outcomes",
        subject="scores",
        doc="The outcome reported for each scored request (one row per prediction row it"
        " applies to). Rewritten on every publish.",
        columns=(
            _c("prediction_id", "bigint", "The scores row this outcome belongs to", False),
            _c("request_id", "text", "The scored request", False),
            _c("model", "text", "The model that answered", False),
            _c("version", "bigint", "The model version that answered", False),
            _c("outcome", "bigint", "1 the flagged event happened (bad), 0 it did not; empty"
               " for a regression"),
            _c("actual", "double", "A regression's actual amount; empty for a classifier"),
            _c("observed_at", "date", "When the outcome was observed", False),
            _c("recorded_at", "timestamp", "When the appliance last recorded it (UTC)", False),
        ),
        sql=_OUTCOMES_SQL,
        requires=("predictions", "outcomes"),
        checks=("prediction_id", "outcome"),
        measures=(("bad_rate", "average", "${TABLE}.outcome"),),
    ),
    PublishedTable(
        name="model_versions",
        subject="models",
        doc="Every registered model version with its aliases and headline test metric.",
        columns=(
            _c("model", "text", "Model name", False),
            _c("usecase", "text", "The use case it was trained for", False),
            _c("version", "bigint", "Version number (1, 2, ...)", False),
            _c("created_at", "timestamp", "When it was registered (UTC)", False),
            _c("trained_at", "timestamp", "When training finished (UTC)", False),
            _c("duration_s", "double", "Training time in seconds", False),
            _c("status", "text", "registered or rejected", False),
            _c("aliases", "text", "Aliases it holds now, comma-separated (production, ...)"),
            _c("is_production", "boolean", "Whether it serves production traffic now", False),
            _c("headline_metric", "text", "The metric training optimised (e.g. roc_auc)"),
            _c("headline_value", "double", "That metric on the test split"),
            _c("code_version", "text", "The appliance version that trained it", False),
            _c("seed", "bigint", "Training random seed", False),
            _c("booster_sha256", "text", "SHA-256 of the booster file", False),
        ),
        sql=_MODEL_VERSIONS_SQL,
        requires=("model_versions", "models", "model_aliases"),
        primary_key=("model", "version"),
        checks=("version", "headline_value"),
        measures=(("average_headline_value", "average", "${TABLE}.headline_value"),),
    ),
    PublishedTable(
        name="customer_segments",
        subject="models",
        doc="Each customer's segment under the production segmentation of each use case that"
        " declares one (k-means; see docs/segmentation.md).",
        columns=(
            _c("usecase", "text", "The use case whose [segmentation] made the segments", False),
            _c("version", "bigint", "The production segmentation version", False),
            _c("entity_id", "text", "The customer", False),
            _c("segment", "bigint", "The customer's segment (0 = the largest at training)",
               False),
            _c("assigned_at", "timestamp", "When the segment was assigned (UTC)", False),
        ),
        sql="SELECT usecase, version, entity_id, segment, assigned_at"
        " FROM production_customer_segments",
        requires=("segmentations", "segmentation_production", "customer_segments"),
        primary_key=("usecase", "entity_id"),
        checks=("version", "segment"),
        measures=(("customers", "count_distinct", "${TABLE}.entity_id"),),
    ),
    PublishedTable(
        name="model_metrics",
        subject="models",
        doc="Every numeric metric of every model version, one row per metric (long form).",
        columns=(
            _c("model", "text", "Model name", False),
            _c("version", "bigint", "Version number", False),
            _c("split", "text", "First key of metrics.json: test, validation, backtest...",
               False),
            _c("metric", "text", "The metric's dotted path under split (e.g. roc_auc)", False),
            _c("value", "double", "Its value", False),
        ),
        rows=metric_rows,
        requires=("model_versions",),
        checks=("version", "value"),
        measures=(("average_value", "average", "${TABLE}.value"),),
    ),
    PublishedTable(
        name="job_runs",
        subject="operations",
        doc="Every run of a scheduled or manual job: status, timing, rows, error.",
        columns=(
            _c("run_id", "bigint", "Run id", False),
            _c("job", "text", "Job name in appliance.toml", False),
            _c("kind", "text", "Job kind (ingest, retrain, publish, ...)", False),
            _c("trigger", "text", "schedule, catch-up, manual or drift-alert", False),
            _c("started_at", "timestamp", "Start (UTC)", False),
            _c("ended_at", "timestamp", "End (UTC); empty while running"),
            _c("duration_s", "double", "Seconds it ran; empty while running"),
            _c("status", "text", "running, ok, failed or interrupted", False),
            _c("error", "text", "Why it failed"),
            _c("rows_processed", "bigint", "Rows, files or tiles processed", False),
            _c("attempt", "bigint", "1 for a first try, 2+ for retries", False),
            _c("retry_of", "bigint", "The run this one retried"),
            _c("summary", "text", "One-line summary", False),
        ),
        sql=_JOB_RUNS_SQL,
        requires=("job_runs",),
        primary_key=("run_id",),
        checks=("run_id", "rows_processed"),
        measures=(
            ("failure_rate", "average", "CASE WHEN ${TABLE}.status = 'failed' THEN 1.0"
             " ELSE 0.0 END"),
            ("average_duration_s", "average", "${TABLE}.duration_s"),
        ),
    ),
    PublishedTable(
        name="drift",
        subject="monitoring",
        doc="Drift and training-serving skew per model version, window, feature and metric.",
        columns=(
            *_version_window("measured"),
            _c("kind", "text", "drift (against the training reference) or skew (served vs"
               " rebuilt offline)", False),
            _c("feature", "text", "The feature, or (score) for the predicted probability", False),
            _c("metric", "text", "psi, js, ks, ks_p, wasserstein, missing_change,"
               " unseen_share, skew_mismatch", False),
            _c("value", "double", "The figure; empty where it cannot be known"),
            _c("level", "text", "stable, watch or act; empty without a band or enough rows"),
            _c("rows", "bigint", "Predictions the figure is computed on", False),
            _c("detail", "text", "JSON details (category shares, unseen values...)", False),
            _c("computed_at", "timestamp", "When it was computed (UTC)", False),
        ),
        sql="SELECT model, version, window_kind, window_start, window_end, kind, feature,"
        " metric, value, level, rows, detail, computed_at FROM drift_results ORDER BY id",
        requires=("drift_results",),
        primary_key=("model", "version", "window_kind", "window_start", "kind", "feature",
                     "metric"),
        checks=("version", "value", "rows"),
        measures=(("average_value", "average", "${TABLE}.value"),
                  ("act_count", "sum", "CASE WHEN ${TABLE}.level = 'act' THEN 1 ELSE 0 END")),
    ),
    PublishedTable(
        name="performance",
        subject="monitoring",
        doc="Realised (or, before outcomes, estimated) performance per model version,"
        " window and metric.",
        columns=(
            *_version_window("measured"),
            _c("metric", "text", "roc_auc, ks, bad_rate, calibration_error, approval_rate,"
               " labelled_share, auc_drop", False),
            _c("estimated", "boolean", "True: estimated from the scores; false: realised"
               " against observed outcomes", False),
            _c("value", "double", "The figure"),
            _c("level", "text", "stable, watch or act (auc_drop only)"),
            _c("rows", "bigint", "Predictions in the window", False),
            _c("labelled", "bigint", "Predictions with an observed outcome", False),
            _c("computed_at", "timestamp", "When it was computed (UTC)", False),
        ),
        sql="SELECT model, version, window_kind, window_start, window_end, metric, estimated,"
        " value, level, rows, labelled, computed_at FROM performance_results ORDER BY id",
        requires=("performance_results",),
        primary_key=("model", "version", "window_kind", "window_start", "metric", "estimated"),
        checks=("version", "value", "rows", "labelled"),
        measures=(("average_value", "average", "${TABLE}.value"),),
    ),
    PublishedTable(
        name="performance_bands",
        subject="monitoring",
        doc="Bad rate by score band (the training reference's probability deciles) per"
        " model version and window.",
        columns=(
            *_version_window("measured"),
            _c("estimated", "boolean", "True: estimated from the scores; false: realised",
               False),
            _c("band", "bigint", "Score band, 1 = lowest probability", False),
            _c("probability_low", "double", "Band's lower probability bound (empty: none)"),
            _c("probability_high", "double", "Band's upper probability bound (empty: none)"),
            _c("rows", "bigint", "Predictions in the band", False),
            _c("labelled", "bigint", "Of those, with an observed outcome", False),
            _c("bad_rate", "double", "Observed bad rate among the labelled"),
            _c("mean_predicted", "double", "Mean predicted probability in the band"),
            _c("computed_at", "timestamp", "When it was computed (UTC)", False),
        ),
        sql="SELECT r.model, r.version, r.window_kind, r.window_start, r.window_end,"
        " r.estimated, CAST(b.key AS INTEGER) + 1,"
        " json_extract(b.value, '$.low'), json_extract(b.value, '$.high'),"
        " coalesce(json_extract(b.value, '$.rows'), 0),"
        " coalesce(json_extract(b.value, '$.labelled'), 0),"
        " json_extract(b.value, '$.bad_rate'), json_extract(b.value, '$.mean_predicted'),"
        " r.computed_at FROM performance_results r,"
        " json_each(r.detail, '$.by_score_band') b WHERE r.metric = 'bad_rate'"
        " ORDER BY r.id, b.key",
        requires=("performance_results",),
        checks=("band", "rows", "labelled", "bad_rate"),
        measures=(("average_bad_rate", "average", "${TABLE}.bad_rate"),),
    ),
    PublishedTable(
        name="fairness",
        subject="monitoring",
        doc="Approval rate, error rates and impact ratio per model version, window,"
        " protected attribute and group.",
        columns=(
            *_version_window("measured"),
            _c("attribute", "text", "Protected attribute from the use case (gender, age_band)",
               False),
            _c("group_name", "text", "The group (missing where unknown)", False),
            _c("rows", "bigint", "Predictions in the group", False),
            _c("eligible", "boolean", "Large enough to take part in the screen", False),
            _c("approval_rate", "double", "Share given the favourable decision"),
            _c("labelled", "bigint", "Rows with an observed outcome", False),
            _c("tpr", "double", "True positive rate of flagging (empty without outcomes)"),
            _c("fpr", "double", "False positive rate of flagging (empty without outcomes)"),
            _c("impact_ratio", "double", "Approval rate over the best eligible group's"),
            _c("four_fifths_pass", "boolean", "Whether the attribute passes the four-fifths"
               " screen; empty with fewer than two eligible groups"),
            _c("computed_at", "timestamp", "When it was computed (UTC)", False),
        ),
        sql="SELECT model, version, window_kind, window_start, window_end, attribute,"
        " group_name, rows, eligible, approval_rate, labelled, tpr, fpr, impact_ratio,"
        " four_fifths_pass, computed_at FROM fairness_results ORDER BY id",
        requires=("fairness_results",),
        primary_key=("model", "version", "window_kind", "window_start", "attribute", "group_name"),
        checks=("version", "rows", "approval_rate"),
        measures=(("average_approval_rate", "average", "${TABLE}.approval_rate"),
                  ("average_impact_ratio", "average", "${TABLE}.impact_ratio")),
    ),
    PublishedTable(
        name="alerts",
        subject="monitoring",
        doc="Every monitoring alert (deduplicated: a breach seen again updates its row).",
        columns=(
            _c("alert_id", "bigint", "Alert number", False),
            _c("created_at", "timestamp", "First detection (UTC)", False),
            _c("last_seen_at", "timestamp", "Latest detection (UTC)", False),
            _c("occurrences", "bigint", "How many runs detected it", False),
            _c("model", "text", "Model", False),
            _c("version", "bigint", "Model version", False),
            _c("kind", "text", "drift, skew, performance or fairness", False),
            _c("subject", "text", "The feature, performance metric or protected attribute",
               False),
            _c("metric", "text", "The metric that breached", False),
            _c("level", "text", "watch or act", False),
            _c("value", "double", "The value"),
            _c("threshold", "double", "The threshold it crossed"),
            _c("window_kind", "text", "day, week or month", False),
            _c("window_start", "date", "First day of the window", False),
            _c("window_end", "date", "First day after the window", False),
            _c("message", "text", "One line for people", False),
            _c("retrain_requested", "boolean", "Whether it asks for a retrain", False),
            _c("retrain_run_id", "bigint", "The retrain job run started for it"),
            _c("delivered_at", "timestamp", "When the webhook or mail delivery succeeded"),
        ),
        sql="SELECT id, created_at, last_seen_at, occurrences, model, version, kind, subject,"
        " metric, level, value, threshold, window_kind, window_start, window_end, message,"
        " retrain_requested, retrain_run_id, delivered_at FROM alerts ORDER BY id",
        requires=("alerts",),
        primary_key=("alert_id",),
        checks=("alert_id", "occurrences"),
        measures=(("act_count", "sum", "CASE WHEN ${TABLE}.level = 'act' THEN 1 ELSE 0 END"),),
    ),
)

SUBJECTS: tuple[str, ...] = tuple(dict.fromkeys(t.subject for t in TABLES))
"""Subject areas in catalogue order; each is one ``publish/<subject>.hyper``."""


def table_named(name: str, tables: Sequence[PublishedTable] = TABLES) -> PublishedTable:
    for table in tables:
        if table.name == name:
            return table
    from appliance.errors import NotFound

    known = ", ".join(t.name for t in tables)
    raise NotFound(f"no published table named {name!r}; the tables are: {known}")


def available_tables(db: Database, tables: Sequence[PublishedTable] = TABLES
                     ) -> list[PublishedTable]:  # fmt: skip
    """The tables whose store tables exist (a monitoring table waits for its migration)."""
    present = set(db.table_names())
    return [t for t in tables if set(t.requires) <= present]
