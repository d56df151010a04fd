"""Choosing the score threshold that turns probabilities into decisions, and its confusion.

A row is *flagged* (declined for credit, blocked for fraud) when ``p >= threshold``; the
rest are *approved*. ``ThresholdPolicy`` says how the threshold is picked and
``choose_threshold`` picks it; ``confusion`` and ``threshold_table`` describe the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import (
    MetricError,
    as_pair,
    as_scores,
    require_both_classes,
    require_rows,
)
from appliance.evaluation._curve import counts_at, cumulative_counts

__all__ = [
    "Confusion",
    "PolicyKind",
    "ThresholdPolicy",
    "choose_threshold",
    "confusion",
    "threshold_table",
]

PolicyKind = Literal["max_fbeta", "precision_at_recall", "approval_rate"]


@dataclass(frozen=True)
class ThresholdPolicy:
    """How the decision threshold is chosen; each kind needs only its own field."""

    kind: PolicyKind
    """``max_fbeta``: best F-beta; ``precision_at_recall``: best precision with recall at
    least ``recall_floor``; ``approval_rate``: approve this share of rows (ignores y)."""
    beta: float = 1.0
    """F-beta weight of recall against precision (2.0: recall counts twice); max_fbeta only."""
    recall_floor: float | None = None
    """Least recall accepted, in (0, 1]; precision_at_recall only."""
    approval_rate: float | None = None
    """Target share of rows approved (not flagged), in (0, 1); approval_rate only."""

    def __post_init__(self) -> None:
        if self.kind not in get_args(PolicyKind):
            raise MetricError(
                f"unknown threshold policy {self.kind!r}; use one of {get_args(PolicyKind)}"
            )
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise MetricError(f"beta must be a positive number, got {self.beta}")
        if self.kind != "max_fbeta" and self.beta != 1.0:
            raise MetricError(f"beta applies to max_fbeta only, not {self.kind}")
        floor, rate = self.recall_floor, self.approval_rate
        if self.kind == "precision_at_recall":
            if floor is None or not 0.0 < floor <= 1.0:
                raise MetricError(f"precision_at_recall needs 0 < recall_floor <= 1, got {floor}")
        elif floor is not None:
            raise MetricError(f"recall_floor applies to precision_at_recall only, not {self.kind}")
        if self.kind == "approval_rate":
            if rate is None or not 0.0 < rate < 1.0:
                raise MetricError(f"approval_rate policy needs 0 < approval_rate < 1, got {rate}")
        elif rate is not None:
            raise MetricError(
                f"approval_rate applies to the approval_rate policy only, not {self.kind}"
            )

    def describe(self) -> str:
        """One line of plain English, for reports and logs."""
        if self.kind == "max_fbeta":
            if self.beta == 1.0:
                return "threshold maximising F1 (precision and recall weighted equally)"
            return f"threshold maximising F{self.beta:g} (recall weighted {self.beta:g}x precision)"
        if self.kind == "precision_at_recall":
            return f"highest precision while catching at least {self.recall_floor:.0%} of positives"
        rate = float(self.approval_rate or 0.0)
        return f"approve {rate:.1%} of rows, flagging the riskiest {1 - rate:.1%}"


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold; every rate is 0.0 when its denominator is 0."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    def fbeta(self, beta: float) -> float:
        """F-beta: recall weighted ``beta`` times as much as precision."""
        b2 = beta * beta
        return _ratio((1 + b2) * self.tp, (1 + b2) * self.tp + b2 * self.fn + self.fp)

    @property
    def f1(self) -> float:
        return self.fbeta(1.0)

    @property
    def f2(self) -> float:
        return self.fbeta(2.0)

    @property
    def fpr(self) -> float:
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    @property
    def flagged_rate(self) -> float:
        return _ratio(self.tp + self.fp, self.n)

    @property
    def approval_rate(self) -> float:
        return 1.0 - self.flagged_rate if self.n else 0.0


def confusion(y: ArrayLike, p: ArrayLike, threshold: float) -> Confusion:
    """Confusion counts when rows with ``p >= threshold`` are flagged."""
    labels, scores = as_pair(y, p)
    flagged = scores >= threshold
    tp = int(np.sum(flagged & (labels == 1)))
    fp = int(np.sum(flagged)) - tp
    fn = int(labels.sum()) - tp
    return Confusion(tp=tp, fp=fp, tn=labels.size - tp - fp - fn, fn=fn)


def choose_threshold(y: ArrayLike | None, p: ArrayLike, policy: ThresholdPolicy) -> float:
    """The threshold ``policy`` picks among the distinct scores of ``p``.

    ``y`` may be None for the approval_rate policy only. Ties in F-beta go to the higher
    threshold; ties in precision to the higher recall.
    """
    if policy.kind == "approval_rate":
        return _approval_threshold(as_scores(p), float(policy.approval_rate or 0.0))
    if y is None:
        raise MetricError(
            f"the {policy.kind} policy needs outcomes y; only approval_rate works without them"
        )
    labels, scores = as_pair(y, p)
    require_both_classes(labels, f"choosing a {policy.kind} threshold")
    c = cumulative_counts(labels, scores)
    if policy.kind == "max_fbeta":
        b2 = policy.beta**2
        fn = c.positives - c.tps
        score = (1 + b2) * c.tps / ((1 + b2) * c.tps + b2 * fn + c.fps)
        return float(c.thresholds[int(np.argmax(score))])
    recall = c.tps / c.positives
    precision = c.tps / (c.tps + c.fps)
    ok = np.flatnonzero(recall >= float(policy.recall_floor or 0.0) - 1e-12)
    best = ok[precision[ok] == precision[ok].max()]
    return float(c.thresholds[best[-1]])


def _approval_threshold(scores: NDArray[np.float64], rate: float) -> float:
    """The distinct score whose approved share (``p < t``) is nearest ``rate``."""
    require_rows(scores, "choosing an approval-rate threshold")
    ps = np.sort(scores)
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    candidates = np.r_[ps[starts], np.nextafter(ps[-1], np.inf)]
    approved = np.r_[starts, ps.size]
    best = int(np.argmin(np.abs(approved - rate * ps.size)))
    return float(candidates[best])


def threshold_table(
    y: ArrayLike, p: ArrayLike, thresholds: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """Decision rates at each threshold, ascending.

    Default thresholds: the 5th, 10th, ..., 95th percentiles of ``p``, deduplicated.
    Rows: threshold, flagged_rate, approval_rate, precision, recall, f1, f2, fpr.
    """
    labels, scores = as_pair(y, p)
    require_rows(labels, "a threshold table")
    if thresholds is None:
        grid = np.unique(np.percentile(scores, np.arange(5, 100, 5)))
    else:
        grid = np.unique(as_scores(np.asarray(thresholds, dtype=np.float64), "thresholds"))
    tp, fp = counts_at(labels, scores, grid)
    positives = int(labels.sum())
    rows = []
    for t, tpi, fpi in zip(grid, tp, fp, strict=True):
        c = Confusion(int(tpi), int(fpi), labels.size - positives - int(fpi), positives - int(tpi))
        rows.append(
            {
                "threshold": float(t),
                "flagged_rate": c.flagged_rate,
                "approval_rate": c.approval_rate,
                "precision": c.precision,
                "recall": c.recall,
                "f1": c.f1,
                "f2": c.f2,
                "fpr": c.fpr,
            }
        )
    return rows


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0
