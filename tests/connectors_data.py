"""Store contents for the connector tests: a registry, a prediction log, outcomes and job
runs, written into a real store with the appliance's own SQL where it has one."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from appliance.serving.outcomes import record_outcomes
from appliance.serving.predlog import PredictionRecord

__all__ = [
    "add_job_runs", "add_models", "add_monitoring", "add_outcomes", "add_predictions", "fill_store",
]

_PREDICTION_COLUMNS = (
    "request_id, role, served, at, model, version, entity_id, application_id, input, features,"
    " probability, score, decision, reasons, latency_ms, key_id, kind, prediction"
)
_START = datetime(2025, 1, 1, tzinfo=UTC)


def add_models(db: Database) -> None:
    """credit_default v1 (production) and v2 (challenger), fraud v1 (production)."""
    metrics = {
        "optimise": "roc_auc",
        "test": {"roc_auc": 0.81, "ks": 0.42, "brier": 0.09},
        "validation": {"roc_auc": 0.8},
        "backtest": [{"roc_auc": 0.79}, {"roc_auc": 0.77}],
        "threshold": 0.3,
        "note": "text is not a metric",
    }
    with db.atomic():
        for name, usecase in (("credit_default", "credit_default"), ("fraud", "card_fraud")):
            db.execute("INSERT INTO models (name, usecase, created_at) VALUES (?, ?, ?)",
                       [name, usecase, "2024-12-01T00:00:00+00:00"])
        for model, version in (("credit_default", 1), ("credit_default", 2), ("fraud", 1)):
            m = {**metrics, "test": {**metrics["test"], "roc_auc": 0.8 + version / 100}}
            db.execute(
                "INSERT INTO model_versions (model, version, created_at, trained_at, duration_s,"
                " booster_path, booster_sha256, booster_format, params, metrics, feature_schema,"
                " datasets, spec, spec_sha256, code_version, seed, reference) VALUES"
                " (?, ?, ?, ?, 12.5, 'b.ubj', ?, 'ubj', '{}', ?, '{}', '[]', '{}', 'x', '0.1.0',"
                " 7, '{}')",
                [model, version, f"2024-12-0{version}T10:00:00+00:00",
                 f"2024-12-0{version}T09:59:00+00:00", "a" * 64, json.dumps(m)],
            )
        for model, alias, version in (("credit_default", "production", 1),
                                      ("credit_default", "challenger", 2),
                                      ("fraud", "production", 1)):
            db.execute("INSERT INTO model_aliases (model, alias, version, updated_at)"
                       " VALUES (?, ?, ?, ?)", [model, alias, version, "2024-12-03T00:00:00Z"])


def add_predictions(db: Database, n: int, *, start: int = 0, seed: int = 0) -> list[str]:
    """``n`` served production credit predictions (every 5th also a shadow row); request
    ids ``r-<i>``, application ids ``A-<i>``; returns the request ids."""
    rng = random.Random(seed + start)
    rows, ids = [], []
    for i in range(start, start + n):
        p = rng.random()
        at = (_START + timedelta(minutes=i)).isoformat(timespec="microseconds")
        reasons = [{"code": f"R{k}", "feature": f"f{k}", "value": k, "contribution": 0.1,
                    "text": f"Reason number {k}"} for k in range(1, 5)]
        record = dict(
            request_id=f"r-{i}", model="credit_default", version=1, role="production",
            served=True, input={"region": ["north", "south"][i % 2], "branch": f"B{i % 3}"},
            features={"x": p}, probability=p, score=300 + 550 * (1 - p),
            decision="decline" if p > 0.5 else "approve", latency_ms=1.5,
            reasons=reasons, entity_id=f"C-{i}", application_id=f"A-{i}", at=at,
        )  # fmt: skip
        rows.append(PredictionRecord(**record).row())  # type: ignore[arg-type]
        if i % 5 == 0:
            shadow = {**record, "role": "shadow", "served": False, "version": 2}
            rows.append(PredictionRecord(**shadow).row())  # type: ignore[arg-type]
        ids.append(f"r-{i}")
    with db.atomic():
        db.conn.executemany(
            f"INSERT INTO predictions ({_PREDICTION_COLUMNS}) VALUES ({', '.join('?' * 18)})",
            rows,
        )
    return ids


def add_outcomes(db: Database, items: list[dict[str, Any]]) -> None:
    report = record_outcomes(db, items, key_id=None, actor="test")
    assert not report.rejected, report.rejected


def add_job_runs(db: Database, n: int) -> None:
    with db.atomic():
        for i in range(n):
            start = _START + timedelta(hours=i)
            db.execute(
                "INSERT INTO job_runs (job, kind, trigger, started_at, ended_at, status, error,"
                " rows_processed, summary) VALUES (?, ?, 'schedule', ?, ?, ?, ?, ?, 'done')",
                ["ingest", "ingest", start.isoformat(), (start + timedelta(seconds=90)).isoformat(),
                 "failed" if i % 4 == 3 else "ok", "disk full" if i % 4 == 3 else None, 10 * i],
            )  # fmt: skip


def fill_store(db: Database, predictions: int = 50) -> None:
    add_models(db)
    add_predictions(db, predictions)
    add_outcomes(db, [{"request_id": "r-1", "outcome": 1, "observed_at": "2025-02-01"},
                      {"application_id": "A-2", "model": "credit_default", "outcome": 0}])
    add_job_runs(db, 6)
    add_monitoring(db)


def add_monitoring(db: Database) -> None:
    """A drift, a performance (with score bands), a fairness row and an alert."""
    at = "2025-02-01T00:00:00+00:00"
    window = ["credit_default", 1, "week", "2025-01-06", "2025-01-13"]
    bands = {"by_score_band": [
        {"low": None, "high": 0.2, "rows": 10, "labelled": 4, "bad_rate": 0.25,
         "mean_predicted": 0.1},
        {"low": 0.2, "high": None, "rows": 5, "labelled": 0, "bad_rate": None,
         "mean_predicted": 0.6},
    ]}  # fmt: skip
    with db.atomic():
        db.execute(
            "INSERT INTO drift_results (model, version, window_kind, window_start, window_end,"
            " kind, feature, metric, value, level, rows, computed_at)"
            " VALUES (?, ?, ?, ?, ?, 'drift', 'income', 'psi', 0.31, 'act', 15, ?)",
            [*window, at],
        )
        db.execute(
            "INSERT INTO performance_results (model, version, window_kind, window_start,"
            " window_end, metric, estimated, value, rows, labelled, detail, computed_at)"
            " VALUES (?, ?, ?, ?, ?, 'bad_rate', 0, 0.25, 15, 4, ?, ?)",
            [*window, json.dumps(bands), at],
        )
        db.execute(
            "INSERT INTO fairness_results (model, version, window_kind, window_start,"
            " window_end, attribute, group_name, rows, eligible, approval_rate, labelled,"
            " impact_ratio, four_fifths_pass, computed_at)"
            " VALUES (?, ?, ?, ?, ?, 'gender', 'F', 15, 1, 0.6, 4, 0.9, 1, ?)",
            [*window, at],
        )
        db.execute(
            "INSERT INTO alerts (created_at, last_seen_at, model, version, kind, subject,"
            " metric, level, value, threshold, window_kind, window_start, window_end, message)"
            " VALUES (?, ?, 'credit_default', 1, 'drift', 'income', 'psi', 'act', 0.31, 0.25,"
            " 'week', '2025-01-06', '2025-01-13', 'income drifted')",
            [at, at],
        )
