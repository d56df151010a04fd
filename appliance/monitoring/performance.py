"""Realised performance of one window, and the estimate made before outcomes mature.

Realised (``estimated`` False), on the rows with an observed outcome once there are at
least ``min_labels`` of them and both outcomes occur: ROC AUC and KS (the evaluation
package's own), the bad rate, the calibration error (mean absolute gap between predicted
and observed rates over equal-frequency bins, weighted by rows) and ``auc_drop``, the
version's test AUC minus the window's, judged by the ``auc_drop`` band.

Estimated (``estimated`` True), from the scores alone, always: what the model expects
if it is calibrated. Each row counts as a positive with weight ``p`` and as a negative
with weight ``1 - p``; the expected bad rate is the mean ``p``, the expected AUC the
weighted share of (positive, negative) pairs ranked right (ties half, a row never
paired with itself) and the expected KS the largest gap of the weighted CDFs. A label
says which is which wherever they are shown.

Observed always: the approval rate (the share given the favourable decision) and the
share of rows labelled. ``bad_rate`` carries the bad rate by score band (the
reference's score deciles) in its detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.evaluation import calibration_table, ks, roc_auc
from appliance.monitoring.bands import Level
from appliance.monitoring.config import MonitoringConfig

__all__ = ["PerformanceFigure", "amount_figures", "expected_auc_ks", "performance_figures"]


@dataclass(frozen=True)
class PerformanceFigure:
    metric: str
    value: float | None
    estimated: bool
    level: Level | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def expected_auc_ks(p: NDArray[np.float64]) -> tuple[float | None, float | None]:
    """AUC and KS a calibrated model expects on scores ``p`` (None for < 2 rows or when
    every ``p`` is 0 or every ``p`` is 1)."""
    scores = np.asarray(p, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    pos_total, neg_total = float(scores.sum()), float((1 - scores).sum())
    self_pairs = float(np.sum(scores * (1 - scores)))
    pairs = pos_total * neg_total - self_pairs
    if scores.size < 2 or pairs <= 0:
        return None, None
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=scores, minlength=values.size)
    neg = np.bincount(inverse, weights=1 - scores, minlength=values.size)
    own = np.bincount(inverse, weights=scores * (1 - scores), minlength=values.size)
    neg_below = np.cumsum(neg) - neg
    right = np.sum(pos * neg_below) + 0.5 * np.sum(pos * neg - own)
    gap = np.abs(np.cumsum(pos) / pos_total - np.cumsum(neg) / neg_total)
    return float(right / pairs), float(gap.max())


def performance_figures(
    p: NDArray[np.float64],
    favourable: NDArray[np.bool_],
    y: NDArray[np.float64],
    config: MonitoringConfig,
    *,
    score_edges: NDArray[np.float64] | None = None,
    test_auc: float | None = None,
) -> list[PerformanceFigure]:
    """The window's figures; ``y`` is 1/0 where an outcome is known, NaN where not."""
    rows = int(p.size)
    known = np.isfinite(y) & np.isfinite(p)
    labelled = int(known.sum())
    figures = [
        PerformanceFigure("approval_rate", float(favourable.mean()) if rows else None, False),
        PerformanceFigure("labelled_share", labelled / rows if rows else None, False),
    ]
    scored = p[np.isfinite(p)]
    auc_e, ks_e = expected_auc_ks(scored)
    figures += [
        PerformanceFigure("bad_rate", float(scored.mean()) if scored.size else None, True),
        PerformanceFigure("roc_auc", auc_e, True),
        PerformanceFigure("ks", ks_e, True),
    ]
    bands = _by_band(p, y, known, score_edges) if score_edges is not None else []
    if labelled:
        yk, pk = y[known].astype(np.int64), p[known]
        figures.append(PerformanceFigure("bad_rate", float(yk.mean()), False, None,
                                         {"by_score_band": bands}))  # fmt: skip
    both = labelled >= config.min_labels and 0 < int(y[known].sum()) < labelled
    if both:
        auc = roc_auc(yk, pk)
        table = calibration_table(yk, pk, bins=10)
        error = sum(r["n"] * abs(r["observed_rate"] - r["mean_predicted"]) for r in table)
        figures += [
            PerformanceFigure("roc_auc", auc, False),
            PerformanceFigure("ks", ks(yk, pk), False),
            PerformanceFigure("calibration_error", error / labelled, False, None,
                              {"table": table}),
        ]  # fmt: skip
        if test_auc is not None:
            drop = test_auc - auc
            band = config.band("auc_drop")
            level = band.level(drop) if band else None
            why = f"window AUC {auc:.3f} against {test_auc:.3f} on the test rows"
            figures.append(PerformanceFigure("auc_drop", drop, False, level, {"why": why}))
    elif labelled:
        figures.append(PerformanceFigure("roc_auc", None, False, None, {
            "why": f"{labelled} labelled rows; realised figures need {config.min_labels} "
                   "with both outcomes"}))  # fmt: skip
    return figures


def _by_band(
    p: NDArray[np.float64], y: NDArray[np.float64], known: NDArray[np.bool_],
    edges: NDArray[np.float64],
) -> list[dict[str, Any]]:  # fmt: skip
    band = np.searchsorted(edges, np.nan_to_num(p, nan=-np.inf), side="right")
    out = []
    bounds = [-np.inf, *edges.tolist(), np.inf]
    for b in range(edges.size + 1):
        rows = band == b
        labelled = rows & known
        n_lab = int(labelled.sum())
        out.append({
            "low": None if b == 0 else float(bounds[b]),
            "high": None if b == edges.size else float(bounds[b + 1]),
            "rows": int(rows.sum()), "labelled": n_lab,
            "bad_rate": float(y[labelled].mean()) if n_lab else None,
            "mean_predicted": float(p[rows].mean()) if rows.any() else None,
        })  # fmt: skip
    return out


def amount_figures(
    predicted: NDArray[np.float64], actual: NDArray[np.float64], test_rmse: float | None,
    *, min_rows: int, tolerance: float = 0.15,
) -> list[PerformanceFigure]:  # fmt: skip
    """A regression's realised errors on the rows whose actual amount is known: RMSE
    (judged against the test RMSE: watch beyond ``tolerance`` worse, act beyond twice
    that, as the training backtest judges), MAE and mean error. Nothing below ``min_rows``."""
    from appliance.evaluation.regression import regression_summary

    known = np.isfinite(predicted) & np.isfinite(actual)
    if int(known.sum()) < min_rows:
        return []
    errors = regression_summary(actual[known], predicted[known]) or {}
    level: Level | None = None
    detail: dict[str, Any] = {"rows": int(known.sum())}
    if test_rmse:
        ratio = errors["rmse"] / test_rmse
        level = "act" if ratio > 1 + 2 * tolerance else "watch" if ratio > 1 + tolerance else (
            "stable")  # fmt: skip
        detail.update(test_rmse=test_rmse, ratio=ratio,
                      why=f"RMSE {ratio:.2f}x the test RMSE {test_rmse:,.4g}")  # fmt: skip
    return [
        PerformanceFigure("rmse", errors["rmse"], False, level, detail),
        PerformanceFigure("mae", errors["mae"], False),
        PerformanceFigure("mean_error", errors["bias"], False),
    ]
