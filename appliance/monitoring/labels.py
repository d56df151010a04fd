"""Matching observed outcomes to logged predictions.

An outcome names its prediction by request id (then it holds for every role's row of
that request: the served answer and any shadow's) or by application id and model. Where
a row has both and they disagree, the request id's wins and the conflict is counted.
Outcomes that match no logged prediction (possible only when written around the REST
API) are counted, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["Labels", "logged_amounts", "match_outcomes", "unmatched_outcomes"]

_CHUNK = 500


@dataclass(frozen=True)
class Labels:
    y: NDArray[np.float64]
    """1/0 (a regression: the actual amount) per row where it is known, NaN where not."""
    conflicts: int
    """Rows whose request-id and application-id outcomes disagree (the request id's kept)."""


def _lookup(
    db: Database, sql: str, keys: Sequence[str], first: Sequence[str] = ()
) -> dict[str, float]:
    out: dict[str, float] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), _CHUNK):
        part = unique[start : start + _CHUNK]
        marks = ", ".join("?" for _ in part)
        for key, outcome in db.execute(sql.format(marks=marks), [*first, *part]).fetchall():
            if outcome is not None:
                out[str(key)] = float(outcome)
    return out


def match_outcomes(
    db: Database, model: str, request_ids: Sequence[str], application_ids: Sequence[str | None],
    *, actual: bool = False,
) -> Labels:  # fmt: skip
    """Each row's observed outcome (with ``actual``: the amount, for a regression)."""
    column = "actual" if actual else "outcome"
    by_request = _lookup(db, f"SELECT request_id, {column} FROM outcomes WHERE request_id IN "
                             "({marks})", list(request_ids))  # fmt: skip
    apps = [a for a in application_ids if a is not None]
    by_app = _lookup(db, f"SELECT application_id, {column} FROM outcomes WHERE model = ? AND "
                         "application_id IN ({marks})", apps, [model])  # fmt: skip
    y = np.full(len(request_ids), np.nan)
    conflicts = 0
    for i, (request, application) in enumerate(zip(request_ids, application_ids, strict=True)):
        first = by_request.get(request)
        second = by_app.get(application) if application is not None else None
        if first is not None and second is not None and first != second:
            conflicts += 1
        chosen = first if first is not None else second
        if chosen is not None:
            y[i] = chosen
    return Labels(y, conflicts)


def logged_amounts(
    db: Database, model: str, version: int, request_ids: Sequence[str]
) -> NDArray[np.float64]:
    """A regression version's predicted amount per logged request (NaN where none)."""
    found = _lookup(db, "SELECT request_id, prediction FROM predictions WHERE model = ? AND "
                        "version = ? AND request_id IN ({marks})", list(request_ids),
                    [model, str(version)])  # fmt: skip
    return np.array([found.get(r, np.nan) for r in request_ids], dtype=np.float64)


def unmatched_outcomes(db: Database, model: str) -> int:
    """Outcomes for ``model`` that name no logged prediction."""
    row = db.execute(
        "SELECT count(*) FROM outcomes o WHERE (o.request_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM predictions p WHERE p.request_id = o.request_id)) OR "
        "(o.application_id IS NOT NULL AND o.model = ? AND NOT EXISTS (SELECT 1 FROM predictions"
        " p WHERE p.application_id = o.application_id AND p.model = o.model))",
        [model],
    ).fetchone()
    return int(row[0])
