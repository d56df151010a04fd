"""Fairness of one window's decisions per protected group (pure).

Approval rates (the favourable decision) are taken on every row, outcomes or not;
TPR and FPR of flagging on the rows with an observed outcome, through the evaluation
package's ``fairness_report``. Per attribute, the disparate impact ratio (lowest over
highest approval rate among groups of at least ``min_group_size`` rows) is screened
against the four-fifths rule and flagged per attribute; small groups are reported, not
averaged away and not assessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation import fairness_report
from appliance.evaluation.fairness import MISSING_GROUP, Favourable

__all__ = ["GroupRow", "group_fairness"]


@dataclass(frozen=True)
class GroupRow:
    attribute: str
    group: str
    rows: int
    eligible: bool
    approval_rate: float | None
    labelled: int
    tpr: float | None
    fpr: float | None
    impact_ratio: float | None
    """This group's approval rate over the highest eligible group's."""
    disparate_impact: float | None
    """The attribute's ratio: lowest over highest eligible approval rate."""
    four_fifths_pass: bool | None
    """None when fewer than two groups are eligible."""


def _labels(values: ArrayLike) -> NDArray[np.str_]:
    out = [MISSING_GROUP if v is None or v == "" or (isinstance(v, float) and v != v) else str(v)
           for v in np.asarray(values, dtype=object).tolist()]  # fmt: skip
    return np.asarray(out, dtype=str)


def group_fairness(
    groups: Mapping[str, ArrayLike],
    p: NDArray[np.float64],
    threshold: float,
    y: NDArray[np.float64],
    *,
    favourable: Favourable = "not_flagged",
    min_group_size: int = 30,
    di_floor: float = 0.8,
) -> list[GroupRow]:
    """Rows per attribute and group; ``y`` is 1/0 where an outcome is known, else NaN."""
    flagged = p >= threshold
    fav = flagged if favourable == "flagged" else ~flagged
    known = np.isfinite(y)
    out: list[GroupRow] = []
    for attribute, values in groups.items():
        names = _labels(values)
        rates = _tpr_fpr(attribute, names, p, y, known, threshold, favourable)
        stats = []
        for group in np.unique(names):
            mask = names == group
            n = int(mask.sum())
            stats.append((str(group), n, n >= min_group_size, float(fav[mask].mean())))
        eligible = [s for s in stats if s[2]]
        best = max((s[3] for s in eligible), default=None)
        ratio = None
        passed = None
        if len(eligible) >= 2 and best is not None:
            ratio = 1.0 if best == 0 else min(s[3] for s in eligible) / best
            passed = ratio >= di_floor
        for group, n, ok, rate in stats:
            tpr, fpr, labelled = rates.get(group, (None, None, 0))
            impact = (rate / best if best else None) if ok else None
            out.append(GroupRow(attribute, group, n, ok, rate, labelled, tpr, fpr, impact,
                                ratio, passed))  # fmt: skip
    return out


def _tpr_fpr(
    attribute: str, names: NDArray[np.str_], p: NDArray[np.float64], y: NDArray[np.float64],
    known: NDArray[np.bool_], threshold: float, favourable: Favourable,
) -> dict[str, tuple[float | None, float | None, int]]:  # fmt: skip
    if not known.any():
        return {}
    report = fairness_report(y[known].astype(np.int64), p[known], threshold,
                             {attribute: names[known]}, favourable=favourable)  # fmt: skip
    return {g.group: (g.tpr, g.fpr, g.n) for g in report.attributes[0].groups}
