"""Monitoring results in the store (tables of migration 6): written per model version and
window in one transaction, updated in place when a window is measured again; read back
as plain dicts for the report and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.monitoring.drift import FeatureDrift
from appliance.monitoring.windows import Window

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.monitoring.fairness import GroupRow
    from appliance.monitoring.performance import PerformanceFigure

__all__ = [
    "drift_history",
    "fairness_history",
    "performance_history",
    "save_drift",
    "save_fairness",
    "save_performance",
]


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, default=_plain, allow_nan=False)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _replace(
    db: Database, table: str, key: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
    unique: Sequence[str],
) -> None:  # fmt: skip
    """Upsert ``rows`` (ids kept) and delete the window's rows that are no longer measured."""
    columns = list(rows[0]) if rows else []
    where = " AND ".join(f"{k} = ?" for k in key)
    with db.atomic():
        if rows:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in unique)
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                   f"({', '.join('?' for _ in columns)}) ON CONFLICT ({', '.join(unique)}) "
                   f"DO UPDATE SET {updates}")  # fmt: skip
            db.conn.executemany(sql, [[r[c] for c in columns] for r in rows])
        keep = {tuple(r[c] for c in unique) for r in rows}
        existing = db.execute(f"SELECT id, {', '.join(unique)} FROM {table} WHERE {where}",
                              list(key.values())).fetchall()  # fmt: skip
        stale = [(row[0],) for row in existing if tuple(row[1:]) not in keep]
        db.conn.executemany(f"DELETE FROM {table} WHERE id = ?", stale)


def _window_key(model: str, version: int, window: Window) -> dict[str, Any]:
    return {"model": model, "version": version, "window_kind": window.kind,
            "window_start": window.start_iso}  # fmt: skip


def save_drift(
    db: Database, model: str, version: int, window: Window, kind: str,
    drifts: Iterable[FeatureDrift], now: str,
) -> int:  # fmt: skip
    """Store one version's ``drift`` or ``skew`` results for ``window``; returns rows."""
    key = _window_key(model, version, window)
    rows = [
        {**key, "window_end": window.end_iso, "kind": kind, "feature": d.feature,
         "metric": m.metric, "value": _finite(m.value), "level": m.level, "rows": d.rows,
         "detail": _json({**m.detail, **({"note": d.note} if d.note else {})}),
         "computed_at": now}
        for d in drifts for m in d.metrics
    ]  # fmt: skip
    unique = ("model", "version", "window_kind", "window_start", "kind", "feature", "metric")
    _replace(db, "drift_results", {**key, "kind": kind}, rows, unique)
    return len(rows)


def save_performance(
    db: Database, model: str, version: int, window: Window,
    figures: Iterable[PerformanceFigure], rows: int, labelled: int, now: str,
) -> int:  # fmt: skip
    key = _window_key(model, version, window)
    out = [
        {**key, "window_end": window.end_iso, "metric": f.metric, "estimated": int(f.estimated),
         "value": _finite(f.value), "level": f.level, "rows": rows, "labelled": labelled,
         "detail": _json(f.detail), "computed_at": now}
        for f in figures
    ]  # fmt: skip
    unique = ("model", "version", "window_kind", "window_start", "metric", "estimated")
    _replace(db, "performance_results", key, out, unique)
    return len(out)


def save_fairness(
    db: Database, model: str, version: int, window: Window, groups: Iterable[GroupRow], now: str
) -> int:
    key = _window_key(model, version, window)
    out = [
        {**key, "window_end": window.end_iso, "attribute": g.attribute, "group_name": g.group,
         "rows": g.rows, "eligible": int(g.eligible), "approval_rate": _finite(g.approval_rate),
         "labelled": g.labelled, "tpr": _finite(g.tpr), "fpr": _finite(g.fpr),
         "impact_ratio": _finite(g.impact_ratio),
         "four_fifths_pass": None if g.four_fifths_pass is None else int(g.four_fifths_pass),
         "computed_at": now}
        for g in groups
    ]  # fmt: skip
    unique = ("model", "version", "window_kind", "window_start", "attribute", "group_name")
    _replace(db, "fairness_results", key, out, unique)
    return len(out)


def _rows(db: Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, list(params))
    names = [c[0] for c in cursor.description]
    out = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in out:
        if isinstance(row.get("detail"), str):
            row["detail"] = json.loads(row["detail"])
    return out


def drift_history(
    db: Database, model: str, window_kind: str, kind: str = "drift"
) -> list[dict[str, Any]]:
    """Every stored drift (or skew) row of ``model`` for ``window_kind``, oldest first."""
    return _rows(db, "SELECT * FROM drift_results WHERE model = ? AND window_kind = ? AND "
                     "kind = ? ORDER BY window_start, version, feature, metric",
                 [model, window_kind, kind])  # fmt: skip


def performance_history(db: Database, model: str, window_kind: str) -> list[dict[str, Any]]:
    return _rows(db, "SELECT * FROM performance_results WHERE model = ? AND window_kind = ? "
                     "ORDER BY window_start, version, metric, estimated",
                 [model, window_kind])  # fmt: skip


def fairness_history(db: Database, model: str, window_kind: str) -> list[dict[str, Any]]:
    return _rows(db, "SELECT * FROM fairness_results WHERE model = ? AND window_kind = ? "
                     "ORDER BY window_start, version, attribute, group_name",
                 [model, window_kind])  # fmt: skip
