"""Ranking, probability and stability metrics of a binary classifier, in numpy only.

Every function takes ``y`` (0/1 labels, 1 = the positive class such as "defaulted" or
"fraud") and ``p`` (the predicted probability of the positive class, or any score for the
ranking metrics). A row is *flagged* when ``p >= threshold``. Ranking metrics (ROC AUC,
average precision, KS) are undefined when ``y`` holds one class and raise ``MetricError``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import (
    MetricError,
    as_pair,
    as_scores,
    require_both_classes,
    require_rows,
)
from appliance.evaluation._curve import cumulative_counts
from appliance.evaluation._quantiles import bin_index, quantile_starts

__all__ = [
    "MetricError",
    "brier",
    "calibration_table",
    "ks",
    "log_loss",
    "pr_auc",
    "pr_curve",
    "psi",
    "roc_auc",
    "roc_curve",
    "summary",
]

Curve = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative.

    Ties count half (Mann-Whitney U). Positives' and negatives' scores are sorted apart and
    each positive counts the negatives below it by binary search: millions of rows take
    well under a second.
    """
    labels, scores = as_pair(y, p)
    require_both_classes(labels, "ROC AUC")
    is_pos = labels == 1
    pos = np.sort(scores[is_pos])
    neg = np.sort(scores[~is_pos])
    below = np.searchsorted(neg, pos, side="left").sum()
    below_or_tied = np.searchsorted(neg, pos, side="right").sum()
    return float((int(below) + int(below_or_tied)) / (2 * pos.size * neg.size))


def roc_curve(y: ArrayLike, p: ArrayLike, *, drop_intermediate: bool = False) -> Curve:
    """``(fpr, tpr, thresholds)`` with thresholds descending, starting at ``inf`` (0, 0).

    Point ``i`` flags rows with ``p >= thresholds[i]``. ``drop_intermediate`` drops
    points on straight segments (same area, fewer points to plot).
    """
    labels, scores = as_pair(y, p)
    require_both_classes(labels, "ROC curve")
    c = cumulative_counts(labels, scores)
    tps, fps, thresholds = c.tps, c.fps, c.thresholds
    if drop_intermediate and tps.size > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    fpr = np.r_[0.0, fps / c.negatives]
    tpr = np.r_[0.0, tps / c.positives]
    return fpr, tpr, np.r_[np.inf, thresholds]


def pr_curve(y: ArrayLike, p: ArrayLike) -> Curve:
    """``(precision, recall, thresholds)`` as scikit-learn's ``precision_recall_curve``.

    Thresholds ascend over the distinct scores; ``precision[i]`` and ``recall[i]`` flag
    ``p >= thresholds[i]``; a last point (precision 1, recall 0) closes the curve.
    """
    labels, scores = as_pair(y, p)
    require_both_classes(labels, "precision-recall curve")
    c = cumulative_counts(labels, scores)
    precision = c.tps / (c.tps + c.fps)
    recall = c.tps / c.positives
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], c.thresholds[::-1].copy()


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision: sum of precision at each threshold times the recall it adds.

    The same step-wise definition as scikit-learn's ``average_precision_score`` (no
    interpolation); a random model scores the positive rate, a perfect one 1.0.
    """
    labels, scores = as_pair(y, p)
    require_both_classes(labels, "average precision")
    c = cumulative_counts(labels, scores)
    precision = c.tps / (c.tps + c.fps)
    added_recall = np.diff(np.r_[0, c.tps]) / c.positives
    return float(np.sum(precision * added_recall))


def ks(y: ArrayLike, p: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between TPR and FPR over thresholds."""
    labels, scores = as_pair(y, p)
    require_both_classes(labels, "KS")
    c = cumulative_counts(labels, scores)
    return float(np.max(np.abs(c.tps / c.positives - c.fps / c.negatives)))


def log_loss(y: ArrayLike, p: ArrayLike, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood; ``p`` is clipped to ``[eps, 1 - eps]`` first."""
    labels, scores = as_pair(y, p, probabilities=True)
    require_rows(labels, "log loss")
    if not 0.0 < eps < 0.5:
        raise MetricError(f"eps must lie in (0, 0.5), got {eps}")
    clipped = np.clip(scores, eps, 1.0 - eps)
    return float(-np.mean(np.where(labels == 1, np.log(clipped), np.log1p(-clipped))))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Brier score: mean squared gap between ``p`` and the 0/1 outcome (lower is better)."""
    labels, scores = as_pair(y, p, probabilities=True)
    require_rows(labels, "Brier score")
    return float(np.mean((scores - labels) ** 2))


def calibration_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> list[dict[str, float]]:
    """Observed positive rate against mean predicted ``p`` in equal-frequency bins.

    Bins are cut at quantiles of ``p``; equal scores always share a bin, so heavy ties
    give fewer (never empty) bins. Rows, lowest ``p`` first: ``low``, ``high`` (the
    smallest and largest ``p`` in the bin), ``n``, ``mean_predicted``, ``observed_rate``.
    """
    labels, scores = as_pair(y, p)
    require_rows(labels, "a calibration table")
    starts = quantile_starts(scores, bins)
    idx = bin_index(starts, scores)
    n = np.bincount(idx, minlength=starts.size)
    pos = np.bincount(idx, weights=labels, minlength=starts.size)
    sum_p = np.bincount(idx, weights=scores, minlength=starts.size)
    high = np.full(starts.size, -np.inf)
    np.maximum.at(high, idx, scores)
    return [
        {
            "low": float(starts[i]),
            "high": float(high[i]),
            "n": int(n[i]),
            "mean_predicted": float(sum_p[i] / n[i]),
            "observed_rate": float(pos[i] / n[i]),
        }
        for i in range(starts.size)
    ]


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10, *, floor: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bins are quantiles of ``expected`` (values outside its range fall in the end bins);
    PSI = sum over bins of ``(a - e) * ln(a / e)`` with shares ``a`` and ``e`` floored at
    ``floor`` so an empty bin does not give infinity. Rule of thumb: below 0.1 the
    population is stable; 0.1 to 0.25 is a moderate shift worth watching; above 0.25 the
    population has shifted and the model should be reviewed.
    """
    exp = as_scores(expected, "expected")
    act = as_scores(actual, "actual")
    if exp.size == 0 or act.size == 0:
        raise MetricError(
            f"PSI needs rows in both samples; got {exp.size} expected and {act.size} actual"
        )
    if not 0.0 < floor < 1.0:
        raise MetricError(f"floor must lie in (0, 1), got {floor}")
    starts = quantile_starts(exp, bins)
    e = np.bincount(bin_index(starts, exp), minlength=starts.size) / exp.size
    a = np.bincount(bin_index(starts, act), minlength=starts.size) / act.size
    e = np.maximum(e, floor)
    a = np.maximum(a, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def summary(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """The headline numbers of a test set, in one JSON-ready dict."""
    labels, scores = as_pair(y, p, probabilities=True)
    require_both_classes(labels, "a metric summary")
    positives = int(labels.sum())
    return {
        "roc_auc": roc_auc(labels, scores),
        "pr_auc": pr_auc(labels, scores),
        "ks": ks(labels, scores),
        "log_loss": log_loss(labels, scores),
        "brier": brier(labels, scores),
        "n": int(labels.size),
        "positives": positives,
        "positive_rate": positives / labels.size,
    }
