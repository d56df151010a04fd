"""Observed outcomes (defaulted or not, fraud confirmed), posted later for monitoring.

An outcome names the prediction it belongs to by ``request_id`` (from the scoring
response) or by ``application_id`` (the bank's own id, sent with the scoring request);
``outcome`` is 0/1 or false/true (a classifier's), or ``actual`` the amount observed (a
regression's: the premium taken), ``observed_at`` an ISO date (today, UTC, if left out).
Outcomes are stored per key: a request id, or an application id and model. Posting the
same outcome twice leaves one row; a different outcome (or date) for a key already
known updates it, and the change is audited with its old and new value.

Each item is checked on its own: good items are stored, bad ones are listed with their
index, field and reason, never raised. Only a body that is not a non-empty array (or
one too long) is an error. A prediction is known here once the prediction log has
written it (within its flush interval).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from appliance import audit
from appliance.errors import ApplianceError
from appliance.store.db import now_iso

__all__ = [
    "MAX_ITEMS",
    "OutcomeReport",
    "OutcomesInvalid",
    "OutcomesTooMany",
    "OutcomesUnavailable",
    "Rejection",
    "record_outcomes",
]

MAX_ITEMS = 10_000
"""Most outcomes in one call; send more in several."""
MAX_ID_LENGTH = 200
FIELDS = ("request_id", "application_id", "model", "outcome", "actual", "observed_at")
_TRUE, _FALSE = ("1", "true"), ("0", "false")
_CHUNK = 500  # ids per SQL IN (...) lookup


class OutcomesInvalid(ApplianceError):
    """The body as a whole is not a list of outcomes (not an array, or empty)."""

    exit_code = 4
    http_status = 422


class OutcomesTooMany(OutcomesInvalid):
    """More outcomes in one call than :data:`MAX_ITEMS`."""

    http_status = 413


class OutcomesUnavailable(ApplianceError):
    """The store is busy or failing; nothing was stored and the call may be repeated."""

    exit_code = 1
    http_status = 503


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class OutcomeReport:
    inserted: int
    updated: int
    unchanged: int
    rejected: tuple[Rejection, ...]

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [r.to_dict() for r in self.rejected],
        }


@dataclass(frozen=True)
class _Outcome:
    index: int
    request_id: str | None
    application_id: str | None
    model: str | None
    outcome: int | None
    actual: float | None
    observed_at: str
    observed_given: bool


def record_outcomes(
    db: Database,
    items: Sequence[Any],
    *,
    key_id: str | None,
    actor: str | None = None,
    today: date | None = None,
) -> OutcomeReport:
    """Check and store ``items`` (one JSON array's elements) in one transaction."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise OutcomesInvalid(
            f"outcomes must be a JSON array of objects, got {_kind(items)}; "
            'e.g. [{"request_id": "...", "outcome": 1}]'
        )
    if not items:
        raise OutcomesInvalid("no outcomes: the array is empty")
    if len(items) > MAX_ITEMS:
        raise OutcomesTooMany(f"{len(items)} outcomes in one call; send at most {MAX_ITEMS}")
    today = today or datetime.now(UTC).date()
    parsed: list[_Outcome] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        result = _parse_item(index, item, today)
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            parsed.append(result)
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    who = actor or f"key {key_id or '(none)'}"
    try:
        with db.atomic():
            by_request = _served_models(db, {o.request_id for o in parsed})
            by_application = _application_models(db, {o.application_id for o in parsed})
            kinds = _model_kinds(db, {*by_request.values(), *(m for ms in by_application.values()
                                                             for m in ms)})  # fmt: skip
            for outcome in parsed:
                model = _resolve_model(outcome, by_request, by_application)
                if isinstance(model, Rejection):
                    rejected.append(model)
                    continue
                mismatch = _kind_mismatch(outcome, model, kinds.get(model, "classification"))
                if mismatch is not None:
                    rejected.append(mismatch)
                    continue
                counts[_store(db, outcome, model, key_id=key_id, actor=who)] += 1
            if counts["inserted"] or counts["updated"]:
                audit.record(db, who, "outcomes.record", "outcomes", {**counts, "key_id": key_id})
    except sqlite3.OperationalError as exc:
        raise OutcomesUnavailable(
            f"the store could not take the outcomes ({exc}); nothing was stored, send them again"
        ) from exc
    rejected.sort(key=lambda r: r.index)
    return OutcomeReport(rejected=tuple(rejected), **counts)


def _parse_item(index: int, item: Any, today: date) -> _Outcome | Rejection:
    """One item checked on its own (no store access): the outcome, or why not."""
    if not isinstance(item, Mapping):
        return Rejection(index, "(item)", f"expected an object, got {_kind(item)}")
    for name in item:
        if name not in FIELDS:
            where = str(name)[:60] or "(item)"
            return Rejection(
                index, where, f"unknown field {_show(name)}; expected {', '.join(FIELDS)}"
            )
    ids = {name: item.get(name) for name in ("request_id", "application_id")}
    given = [name for name, value in ids.items() if value is not None]
    if not given:
        return Rejection(index, "request_id", "missing: give request_id or application_id")
    if len(given) > 1:
        return Rejection(index, "request_id", "give request_id or application_id, not both")
    key, problem = _identifier(ids[given[0]])
    if problem:
        return Rejection(index, given[0], problem)
    model, problem = _identifier(item.get("model"), optional=True)
    if problem:
        return Rejection(index, "model", problem)
    outcome: int | None = None
    actual: float | None = None
    if "actual" in item and "outcome" in item:
        return Rejection(index, "actual", "give outcome (a classifier's) or actual (a "
                                          "regression's amount), not both")  # fmt: skip
    if "actual" in item:
        amount = _actual(item.get("actual"))
        if isinstance(amount, str):
            return Rejection(index, "actual", amount)
        actual = amount
    else:
        label = _outcome(item.get("outcome"))
        if isinstance(label, str):
            return Rejection(index, "outcome", label)
        outcome = label
    observed, problem = _observed(item.get("observed_at"), today)
    if problem:
        return Rejection(index, "observed_at", problem)
    return _Outcome(
        index=index,
        request_id=key if given[0] == "request_id" else None,
        application_id=key if given[0] == "application_id" else None,
        model=model,
        outcome=outcome,
        actual=actual,
        observed_at=observed,
        observed_given=item.get("observed_at") is not None,
    )


def _identifier(value: Any, *, optional: bool = False) -> tuple[str | None, str | None]:
    """(the id as text, None) or (None, the problem)."""
    if value is None:
        return None, None if optional else "missing"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None, f"must be a string, got {_kind(value)}"
    if not value.strip():
        return None, "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return None, f"is {len(value)} characters long; at most {MAX_ID_LENGTH}"
    return value, None


def _outcome(value: Any) -> int | str:
    """0 or 1, or the problem as text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return 1 if value.strip().lower() in _TRUE else 0
    if value is None:
        return "missing: give 0, 1, true or false"
    return f"must be 0, 1, true or false, got {_show(value)}"


def _actual(value: Any) -> float | str:
    """A finite number, or the problem as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number (the amount observed), got {_show(value)}"
    if not math.isfinite(value):
        return f"must be a finite number, got {_show(value)}"
    return float(value)


def _observed(value: Any, today: date) -> tuple[str, str | None]:
    """(the ISO date observed, None) or ("", the problem)."""
    if value is None:
        return today.isoformat(), None
    if not isinstance(value, str):
        return "", f"must be an ISO date (YYYY-MM-DD), got {_kind(value)}"
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return "", f"not an ISO date (YYYY-MM-DD): {_show(value)}"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    day = moment.date()
    if day > today + timedelta(days=1):  # a day's slack for time zones ahead of UTC
        return "", f"{day.isoformat()} is in the future"
    return day.isoformat(), None


def _resolve_model(
    outcome: _Outcome, by_request: Mapping[str, str], by_application: Mapping[str, set[str]]
) -> str | Rejection:
    """The model the outcome belongs to, from the logged predictions."""
    i = outcome.index
    if outcome.request_id is not None:
        logged = by_request.get(outcome.request_id)
        if logged is None:
            return Rejection(
                i, "request_id", f"no logged prediction has request id {_show(outcome.request_id)}"
            )
        if outcome.model is not None and outcome.model != logged:
            return Rejection(
                i, "model", f"the request was scored by {logged!r}, not {outcome.model!r}"
            )
        return logged
    models = by_application.get(outcome.application_id or "", set())
    if not models:
        return Rejection(
            i,
            "application_id",
            f"no logged prediction has application id {_show(outcome.application_id)}",
        )
    if outcome.model is not None:
        if outcome.model in models:
            return outcome.model
        return Rejection(
            i, "model", f"the application was scored by {_names(models)}, not {outcome.model!r}"
        )
    if len(models) > 1:
        return Rejection(
            i, "model", f"the application was scored by {_names(models)}: name the model"
        )
    return next(iter(models))


def _store(db: Database, outcome: _Outcome, model: str, *, key_id: str | None, actor: str) -> str:
    """Insert or update one outcome; 'inserted', 'updated' or 'unchanged'."""
    params: list[str | None]
    if outcome.request_id is not None:
        where, params = "request_id = ?", [outcome.request_id]
    else:
        where, params = "application_id = ? AND model = ?", [outcome.application_id, model]
    row = db.execute(
        f"SELECT id, outcome, actual, observed_at FROM outcomes WHERE {where}", params
    ).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO outcomes (request_id, application_id, model, outcome, actual,"
            " observed_at, recorded_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [outcome.request_id, outcome.application_id, model, outcome.outcome,
             outcome.actual, outcome.observed_at, now_iso(), key_id],
        )  # fmt: skip
        return "inserted"
    row_id, old_outcome, old_actual, old_observed = row
    observed = outcome.observed_at if outcome.observed_given else old_observed
    if (old_outcome, old_actual, old_observed) == (outcome.outcome, outcome.actual, observed):
        return "unchanged"
    db.execute(
        "UPDATE outcomes SET outcome = ?, actual = ?, observed_at = ?, updated_at = ?,"
        " key_id = ? WHERE id = ?",
        [outcome.outcome, outcome.actual, observed, now_iso(), key_id, row_id],
    )
    subject = f"outcome {outcome.request_id or outcome.application_id} ({model})"
    change = {"observed_at": [old_observed, observed]}
    if outcome.actual is not None:
        change["actual"] = [old_actual, outcome.actual]
    else:
        change["outcome"] = [old_outcome, outcome.outcome]
    audit.record(db, actor, "outcome.change", subject, {**change, "key_id": key_id})
    return "updated"


def _model_kinds(db: Database, models: set[str]) -> dict[str, str]:
    """``classification`` or ``regression`` per model, as its logged predictions say."""
    sql = "SELECT model, max(kind) FROM predictions WHERE model IN ({}) GROUP BY model"
    return {model: kind for model, kind in _lookup(db, sql, models)}


def _kind_mismatch(outcome: _Outcome, model: str, kind: str) -> Rejection | None:
    if kind == "regression" and outcome.actual is None:
        return Rejection(outcome.index, "outcome", f"{model!r} is a regression: give actual, "
                                                   "the amount observed")  # fmt: skip
    if kind != "regression" and outcome.actual is not None:
        return Rejection(outcome.index, "actual", f"{model!r} is a classifier: give outcome "
                                                  "0 or 1")  # fmt: skip
    return None


def _served_models(db: Database, request_ids: set[str | None]) -> dict[str, str]:
    sql = "SELECT request_id, model FROM predictions WHERE served = 1 AND request_id IN ({})"
    return {rid: model for rid, model in _lookup(db, sql, request_ids)}


def _application_models(db: Database, application_ids: set[str | None]) -> dict[str, set[str]]:
    sql = "SELECT DISTINCT application_id, model FROM predictions WHERE application_id IN ({})"
    found: dict[str, set[str]] = {}
    for app_id, model in _lookup(db, sql, application_ids):
        found.setdefault(app_id, set()).add(model)
    return found


def _lookup(db: Database, sql: str, keys: Iterable[str | None]) -> list[tuple[Any, Any]]:
    wanted = sorted(k for k in keys if k is not None)
    rows: list[tuple[Any, Any]] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows += db.execute(sql.format(", ".join("?" for _ in chunk)), chunk).fetchall()
    return rows


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(models: set[str]) -> str:
    return ", ".join(repr(m) for m in sorted(models))
