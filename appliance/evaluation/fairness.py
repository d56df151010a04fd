"""Group fairness of the decisions a threshold makes: disparate impact and equal opportunity.

The *favourable* decision is approval (not flagged) for credit and being flagged (offered)
for a propensity model. Per protected attribute (gender, age band, ...) and group we
report the favourable rate, TPR and FPR of flagging against y = 1, and the favourable
rate among the *deserving* rows, whose true outcome matches the favourable decision.
Groups smaller than ``min_group_size`` are reported but not assessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import MetricError, as_pair
from appliance.evaluation._serial import json_dict

__all__ = [
    "MISSING_GROUP",
    "AttributeFairness",
    "FairnessReport",
    "Favourable",
    "GroupFairness",
    "fairness_report",
]

Favourable = Literal["not_flagged", "flagged"]
MISSING_GROUP = "missing"
"""The group of rows whose label is None, NaN or empty."""


@dataclass(frozen=True)
class GroupFairness:
    """One group of one attribute; rates over no rows are None."""

    group: str
    n: int
    eligible: bool
    """At least ``min_group_size`` rows, so it takes part in the tests."""
    favourable_rate: float
    deserving_n: int
    """Rows whose true outcome matches the favourable decision."""
    deserving_favourable_rate: float | None
    tpr: float | None
    fpr: float | None


@dataclass(frozen=True)
class AttributeFairness:
    """The tests on one attribute; one with fewer than two eligible groups passes, noted."""

    attribute: str
    groups: tuple[GroupFairness, ...]
    assessable: bool
    disparate_impact_ratio: float | None
    """Lowest over highest favourable rate among eligible groups."""
    four_fifths_pass: bool
    equal_opportunity_difference: float | None
    """Highest minus lowest deserving favourable rate among eligible groups."""
    eo_pass: bool
    passed: bool
    notes: tuple[str, ...]


@dataclass(frozen=True)
class FairnessReport:
    """Every attribute's tests and the settings they ran with."""

    favourable: Favourable
    threshold: float
    min_group_size: int
    di_floor: float
    eo_tolerance: float
    attributes: tuple[AttributeFairness, ...]
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: tuples become lists, missing rates None."""
        return asdict(self, dict_factory=json_dict)


def fairness_report(
    y: ArrayLike,
    p: ArrayLike,
    threshold: float,
    groups: Mapping[str, ArrayLike],
    *,
    favourable: Favourable = "not_flagged",
    min_group_size: int = 30,
    di_floor: float = 0.8,
    eo_tolerance: float = 0.1,
) -> FairnessReport:
    """Disparate impact (four-fifths rule) and equal opportunity per attribute in ``groups``.

    ``groups`` maps an attribute name to one group label per row (None, NaN or "" become
    ``"missing"``). A row is flagged when ``p >= threshold``.
    """
    labels, scores = as_pair(y, p)
    if favourable not in get_args(Favourable):
        raise MetricError(f"favourable must be one of {get_args(Favourable)}, got {favourable!r}")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int):
        raise MetricError(f"min_group_size must be a positive integer, got {min_group_size!r}")
    if min_group_size < 1:
        raise MetricError(f"min_group_size must be a positive integer, got {min_group_size!r}")
    if not 0.0 < di_floor <= 1.0:
        raise MetricError(f"di_floor must lie in (0, 1], got {di_floor}")
    if not 0.0 <= eo_tolerance <= 1.0:
        raise MetricError(f"eo_tolerance must lie in [0, 1], got {eo_tolerance}")
    flagged = scores >= threshold
    fav = flagged if favourable == "flagged" else ~flagged
    deserving = labels == (1 if favourable == "flagged" else 0)
    attributes = []
    for name, values in groups.items():
        stats = _group_stats(
            _group_labels(values, labels.size, name),
            labels,
            flagged,
            fav,
            deserving,
            min_group_size,
        )
        attributes.append(_assess(name, stats, min_group_size, di_floor, eo_tolerance))
    return FairnessReport(
        favourable=favourable,
        threshold=float(threshold),
        min_group_size=min_group_size,
        di_floor=float(di_floor),
        eo_tolerance=float(eo_tolerance),
        attributes=tuple(attributes),
        passed=all(a.passed for a in attributes),
    )


def _group_stats(
    names: NDArray[np.str_],
    y: NDArray[np.int64],
    flagged: NDArray[np.bool_],
    fav: NDArray[np.bool_],
    deserving: NDArray[np.bool_],
    min_group_size: int,
) -> tuple[GroupFairness, ...]:
    uniq, inv = np.unique(names, return_inverse=True)

    def count(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        return np.bincount(inv, weights=mask, minlength=uniq.size).astype(np.int64)

    n = count(np.ones(y.size, dtype=bool))
    pos, neg = count(y == 1), count(y == 0)
    n_fav, n_des, des_fav = count(fav), count(deserving), count(deserving & fav)
    tp, fp = count(flagged & (y == 1)), count(flagged & (y == 0))
    return tuple(
        GroupFairness(
            group=str(uniq[i]),
            n=int(n[i]),
            eligible=bool(n[i] >= min_group_size),
            favourable_rate=float(n_fav[i] / n[i]),
            deserving_n=int(n_des[i]),
            deserving_favourable_rate=_rate(des_fav[i], n_des[i]),
            tpr=_rate(tp[i], pos[i]),
            fpr=_rate(fp[i], neg[i]),
        )
        for i in range(uniq.size)
    )


def _assess(
    name: str,
    stats: tuple[GroupFairness, ...],
    min_group_size: int,
    di_floor: float,
    eo_tolerance: float,
) -> AttributeFairness:
    notes = [
        f"group {g.group!r} has {g.n} rows, below {min_group_size}: reported, not assessed"
        for g in stats
        if not g.eligible
    ]
    eligible = [g for g in stats if g.eligible]
    if len(eligible) < 2:
        notes.append(f"not assessable: fewer than two groups with at least {min_group_size} rows")
        return AttributeFairness(name, stats, False, None, True, None, True, True, tuple(notes))
    low = min(eligible, key=lambda g: g.favourable_rate)
    high = max(eligible, key=lambda g: g.favourable_rate)
    if high.favourable_rate == 0.0:
        ratio = 1.0
        notes.append("no eligible group receives the favourable decision")
    else:
        ratio = low.favourable_rate / high.favourable_rate
    di_pass = ratio >= di_floor
    if not di_pass:
        notes.append(
            f"disparate impact {ratio:.2f} below {di_floor:.2f}: {low.group!r} favourable "
            f"{low.favourable_rate:.1%} vs {high.group!r} {high.favourable_rate:.1%}"
        )
    difference, eo_pass = _equal_opportunity(eligible, eo_tolerance, notes)
    return AttributeFairness(
        attribute=name,
        groups=stats,
        assessable=True,
        disparate_impact_ratio=ratio,
        four_fifths_pass=di_pass,
        equal_opportunity_difference=difference,
        eo_pass=eo_pass,
        passed=di_pass and eo_pass,
        notes=tuple(notes),
    )


def _equal_opportunity(
    eligible: list[GroupFairness], tolerance: float, notes: list[str]
) -> tuple[float | None, bool]:
    rated = [g for g in eligible if g.deserving_favourable_rate is not None]
    if len(rated) < 2:
        notes.append("equal opportunity not assessable: fewer than two groups with deserving rows")
        return None, True
    low = min(rated, key=lambda g: g.deserving_favourable_rate or 0.0)
    high = max(rated, key=lambda g: g.deserving_favourable_rate or 0.0)
    difference = float(high.deserving_favourable_rate or 0.0) - float(
        low.deserving_favourable_rate or 0.0
    )
    if difference > tolerance:
        notes.append(
            f"equal opportunity gap {difference:.3f} above {tolerance:.3f}: deserving "
            f"{low.group!r} favourable {low.deserving_favourable_rate:.1%} vs "
            f"{high.group!r} {high.deserving_favourable_rate:.1%}"
        )
        return difference, False
    return difference, True


def _group_labels(values: ArrayLike, n: int, attribute: str) -> NDArray[np.str_]:
    """One string label per row; None, NaN and "" become ``MISSING_GROUP``."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size != n:
        raise MetricError(
            f"group attribute {attribute!r} needs one label per row: "
            f"got shape {arr.shape} for {n} rows"
        )
    if arr.dtype.kind in "USiub":
        out = arr.astype(str)
    elif arr.dtype.kind == "f":
        out = np.where(np.isnan(arr), MISSING_GROUP, arr.astype(str))
    else:
        out = np.array([_label(v) for v in arr.tolist()], dtype=str)
    out[out == ""] = MISSING_GROUP
    return out


def _label(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_GROUP
    return str(value)


def _rate(num: int | np.integer, den: int | np.integer) -> float | None:
    return float(num / den) if den else None
