"""Alerts: a row per breach, deduplicated, some asking for a retrain.

``*_breaches`` (pure) turn measured results into :class:`Breach` values: every judged
metric at the configured alert level or worse. ``record_alerts`` stores them: a breach
already on file for the same model version, kind, subject, metric and window only
updates that row (``last_seen_at``, ``occurrences``, ``value``) and is not new, so it is
not delivered twice. Act-level breaches of the kinds in ``retrain_on`` carry
``retrain_requested``; the scheduler starts the retrain job for them (trigger
``drift-alert``) and writes its run id back with :func:`claim_retrain_requests`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.monitoring.bands import LEVELS, Level
from appliance.monitoring.config import MonitoringConfig
from appliance.monitoring.drift import FeatureDrift
from appliance.monitoring.windows import Window

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.monitoring.fairness import GroupRow
    from appliance.monitoring.performance import PerformanceFigure

__all__ = [
    "Alert",
    "Breach",
    "claim_retrain_requests",
    "drift_breaches",
    "fairness_breaches",
    "list_alerts",
    "pending_retrains",
    "performance_breaches",
    "record_alerts",
]


@dataclass(frozen=True)
class Breach:
    model: str
    version: int
    kind: str
    subject: str
    metric: str
    level: Level
    value: float | None
    threshold: float | None
    window: Window
    message: str
    retrain: bool


@dataclass(frozen=True)
class Alert:
    id: int
    created_at: str
    last_seen_at: str
    occurrences: int
    model: str
    version: int
    kind: str
    subject: str
    metric: str
    level: str
    value: float | None
    threshold: float | None
    window_kind: str
    window_start: str
    window_end: str
    message: str
    retrain_requested: bool
    retrain_run_id: int | None
    delivered_at: str | None
    delivery_attempts: int
    delivery_error: str | None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _alerting(level: Level | None, config: MonitoringConfig) -> bool:
    return level is not None and LEVELS.index(level) >= LEVELS.index(config.alert_level)


def drift_breaches(
    model: str, version: int, window: Window, drifts: Iterable[FeatureDrift],
    config: MonitoringConfig, *, kind: str = "drift",
) -> list[Breach]:  # fmt: skip
    """One breach per judged metric at the alert level or worse."""
    out = []
    for d in drifts:
        for m in d.metrics:
            if not _alerting(m.level, config) or m.level is None or m.level == "stable":
                continue
            band = config.band(m.metric)
            threshold = (band.act if m.level == "act" else band.watch) if band else None
            what = "the score" if d.feature == "(score)" else f"feature {d.feature}"
            message = (
                f"{model} v{version}: {kind} of {what} in {window.kind} {window.label}: "
                f"{m.metric} {m.value:.3f} is {m.level} level (threshold {threshold})"
            )
            out.append(Breach(model, version, kind, d.feature, m.metric, m.level, m.value,
                              threshold, window, message,
                              m.level == "act" and kind in config.retrain_on))  # fmt: skip
    return out


def performance_breaches(
    model: str, version: int, window: Window, figures: Iterable[PerformanceFigure],
    config: MonitoringConfig,
) -> list[Breach]:  # fmt: skip
    out = []
    for f in figures:
        if f.level is None or f.level == "stable" or not _alerting(f.level, config):
            continue
        band = config.band(f.metric)
        threshold = (band.act if f.level == "act" else band.watch) if band else None
        message = (f"{model} v{version}: realised performance in {window.kind} {window.label}: "
                   f"{f.metric} {f.value:.3f} is {f.level} level (threshold {threshold}); "
                   f"{f.detail.get('why', '')}").rstrip("; ")  # fmt: skip
        out.append(Breach(model, version, "performance", f.metric, f.metric, f.level, f.value,
                          threshold, window, message,
                          f.level == "act" and "performance" in config.retrain_on))  # fmt: skip
    return out


def fairness_breaches(
    model: str, version: int, window: Window, groups: Sequence[GroupRow], config: MonitoringConfig
) -> list[Breach]:
    """One act-level breach per attribute whose disparate impact fails the 4/5ths screen."""
    out = []
    seen: set[str] = set()
    for g in groups:
        if g.four_fifths_pass is not False or g.attribute in seen:
            continue
        seen.add(g.attribute)
        eligible = [x for x in groups if x.attribute == g.attribute and x.eligible]
        low = min(eligible, key=lambda x: x.approval_rate or 0.0)
        high = max(eligible, key=lambda x: x.approval_rate or 0.0)
        ratio = g.disparate_impact
        message = (f"{model} v{version}: disparate impact on {g.attribute} in {window.kind} "
                   f"{window.label} is {ratio:.2f}, below {config.di_floor:.2f}: "
                   f"{low.group!r} approved {low.approval_rate:.1%} vs {high.group!r} "
                   f"{high.approval_rate:.1%}")  # fmt: skip
        out.append(Breach(model, version, "fairness", g.attribute, "disparate_impact", "act",
                          ratio, config.di_floor, window, message,
                          "fairness" in config.retrain_on))  # fmt: skip
    return out


_COLUMNS = (
    "id, created_at, last_seen_at, occurrences, model, version, kind, subject, metric, level,"
    " value, threshold, window_kind, window_start, window_end, message, retrain_requested,"
    " retrain_run_id, delivered_at, delivery_attempts, delivery_error"
)


def _alert(row: Sequence[Any]) -> Alert:
    values = list(row)
    values[16] = bool(values[16])
    return Alert(*values)


def record_alerts(db: Database, breaches: Iterable[Breach], now: str) -> list[Alert]:
    """Store ``breaches``; returns the alerts that are new (not seen before)."""
    new_ids = []
    with db.atomic():
        for b in breaches:
            key = [b.model, b.version, b.kind, b.subject, b.metric, b.window.kind,
                   b.window.start_iso]  # fmt: skip
            found = db.execute(
                "SELECT id, level FROM alerts WHERE model = ? AND version = ? AND kind = ? AND "
                "subject = ? AND metric = ? AND window_kind = ? AND window_start = ?", key,
            ).fetchone()  # fmt: skip
            if found is not None:
                level = max(found[1], b.level, key=LEVELS.index)
                db.execute(
                    "UPDATE alerts SET last_seen_at = ?, occurrences = occurrences + 1, "
                    "value = ?, level = ?, message = ?, "
                    "retrain_requested = max(retrain_requested, ?) WHERE id = ?",
                    [now, b.value, level, b.message, int(b.retrain), found[0]],
                )
                continue
            cursor = db.execute(
                "INSERT INTO alerts (created_at, last_seen_at, model, version, kind, subject, "
                "metric, level, value, threshold, window_kind, window_start, window_end, "
                "message, retrain_requested) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [now, now, b.model, b.version, b.kind, b.subject, b.metric, b.level, b.value,
                 b.threshold, b.window.kind, b.window.start_iso, b.window.end_iso, b.message,
                 int(b.retrain)],
            )  # fmt: skip
            new_ids.append(int(cursor.lastrowid or 0))
    return [a for a in list_alerts(db) if a.id in set(new_ids)]


def list_alerts(
    db: Database, model: str | None = None, *, undelivered: bool = False, limit: int | None = None
) -> list[Alert]:
    """Alerts, newest first; ``undelivered``: those whose delivery has not succeeded."""
    where, params = [], []
    if model is not None:
        where.append("model = ?")
        params.append(model)
    if undelivered:
        where.append("delivered_at IS NULL")
    sql = f"SELECT {_COLUMNS} FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_alert(r) for r in db.execute(sql, params).fetchall()]


def pending_retrains(db: Database) -> dict[str, list[int]]:
    """Models with retrain requests no retrain run has taken yet: model -> alert ids."""
    out: dict[str, list[int]] = {}
    for alert_id, model in db.execute(
        "SELECT id, model FROM alerts WHERE retrain_requested = 1 AND retrain_run_id IS NULL "
        "ORDER BY id"
    ).fetchall():
        out.setdefault(str(model), []).append(int(alert_id))
    return out


def claim_retrain_requests(db: Database, alert_ids: Iterable[int], run_id: int) -> int:
    """Record that job run ``run_id`` answers these retrain requests; returns how many."""
    ids = [(run_id, int(a)) for a in alert_ids]
    with db.atomic():
        db.conn.executemany(
            "UPDATE alerts SET retrain_run_id = ? WHERE id = ? AND retrain_run_id IS NULL", ids
        )
    return len(ids)
