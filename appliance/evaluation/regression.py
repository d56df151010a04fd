"""Evaluation of a regression (an amount: a premium, a demand) in numpy only.

``y`` holds the actual amounts and ``p`` the predicted ones, aligned row by row. Pure
computation: results are JSON-ready dicts. The backtest and the group check mirror the
classifier's (``appliance.evaluation.backtest``, ``fairness``) with errors in place of
AUC and approval rates, so the registry's gates read both the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import MetricError
from appliance.evaluation.metrics import psi

__all__ = [
    "BIAS_LIMIT",
    "error_by_band",
    "error_by_group",
    "regression_backtest",
    "regression_summary",
]

BIAS_LIMIT = 0.10
"""A group whose mean error exceeds this share of the mean amount fails the group check."""
_MIN_GROUP = 30


def _pair(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    actual = np.asarray(y, dtype=np.float64).ravel()
    predicted = np.asarray(p, dtype=np.float64).ravel()
    if actual.size != predicted.size:
        raise MetricError(
            f"y and p must have one value per row; got {actual.size}, {predicted.size}"
        )
    if actual.size and not (np.isfinite(actual).all() and np.isfinite(predicted).all()):
        raise MetricError("y and p must be finite numbers")
    return actual, predicted


def regression_summary(y: ArrayLike, p: ArrayLike) -> dict[str, Any] | None:
    """RMSE, MAE, MAPE (over rows whose actual is not zero), R², mean error; None when empty.

    R² is None for a part whose actuals are all equal (it is undefined there).
    """
    actual, predicted = _pair(y, p)
    if actual.size == 0:
        return None
    error = predicted - actual
    nonzero = actual != 0
    spread = float(((actual - actual.mean()) ** 2).sum())
    return {
        "n": int(actual.size),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(np.mean(np.abs(error[nonzero] / actual[nonzero]))) if nonzero.any() else None,
        "mape_rows": int(nonzero.sum()),
        "r2": 1.0 - float((error**2).sum()) / spread if spread > 0 else None,
        "bias": float(error.mean()),
        "mean_actual": float(actual.mean()),
        "mean_predicted": float(predicted.mean()),
    }


def error_by_band(y: ArrayLike, p: ArrayLike, bands: int = 10) -> list[dict[str, Any]]:
    """Rows in ``bands`` equal-count bands of the prediction: mean predicted vs actual,
    RMSE and MAE per band (the regression's calibration table)."""
    actual, predicted = _pair(y, p)
    if actual.size == 0:
        return []
    order = np.argsort(predicted, kind="stable")
    out = []
    for band, rows in enumerate(np.array_split(order, min(bands, actual.size)), start=1):
        error = predicted[rows] - actual[rows]
        out.append({
            "band": band, "n": int(rows.size),
            "min_predicted": float(predicted[rows].min()),
            "max_predicted": float(predicted[rows].max()),
            "mean_predicted": float(predicted[rows].mean()),
            "mean_actual": float(actual[rows].mean()),
            "rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error))),
        })  # fmt: skip
    return out


def error_by_group(
    y: ArrayLike, p: ArrayLike, groups: Mapping[str, ArrayLike], *, limit: float = BIAS_LIMIT
) -> dict[str, Any]:
    """Errors per protected group, and whether any group is systematically over- or
    under-predicted: its mean error beyond ``limit`` times the mean actual amount.

    Groups with fewer than 30 rows are reported but not judged.
    """
    actual, predicted = _pair(y, p)
    scale = abs(float(actual.mean())) if actual.size else 0.0
    attributes, flagged = [], []
    for name, labels in groups.items():
        values = np.asarray(labels, dtype=object).ravel()
        if values.size != actual.size:
            raise MetricError(f"group {name!r} has {values.size} labels for {actual.size} rows")
        rows_of = {}
        for label in sorted({str(v) for v in values}):
            members = np.asarray([str(v) == label for v in values])
            error = predicted[members] - actual[members]
            bias = float(error.mean())
            relative = bias / scale if scale > 0 else None
            judged = members.sum() >= _MIN_GROUP and relative is not None
            passed = not judged or abs(relative or 0.0) <= limit
            if not passed:
                flagged.append(f"{name}={label}: mean error {bias:+.4g} ({relative:+.1%})")
            rows_of[label] = {
                "n": int(members.sum()), "mean_actual": float(actual[members].mean()),
                "mean_predicted": float(predicted[members].mean()), "bias": bias,
                "relative_bias": relative, "mae": float(np.mean(np.abs(error))),
                "rmse": float(np.sqrt(np.mean(error**2))), "judged": bool(judged),
                "passed": bool(passed),
            }  # fmt: skip
        attributes.append({"attribute": name, "groups": rows_of})
    return {
        "kind": "regression", "passed": not flagged, "limit": limit, "flagged": flagged,
        "rule": f"no group's mean error beyond {limit:.0%} of the mean amount "
                f"(groups of {_MIN_GROUP}+ rows)",
        "attributes": attributes,
    }  # fmt: skip


def regression_backtest(
    dates: ArrayLike,
    y: ArrayLike,
    p: ArrayLike,
    *,
    period: str = "month",
    reference_rmse: float | None,
    reference_p: ArrayLike | None = None,
    min_rows: int = 50,
    tolerance: float = 0.15,
    psi_watch: float = 0.1,
    psi_unstable: float = 0.25,
) -> dict[str, Any]:
    """Per-period errors over the backtest window and a verdict, in the classifier
    backtest's shape: ``stable``, ``watch`` (a period's RMSE more than ``tolerance`` above
    the test RMSE, or PSI above ``psi_watch``), ``unstable`` (twice that), or ``none``."""
    actual, predicted = _pair(y, p)
    day = np.asarray(dates).astype("datetime64[D]")
    if day.size != actual.size:
        raise MetricError(f"dates has {day.size} values for {actual.size} rows")
    if actual.size == 0:
        return {"period": period, "n": 0, "verdict": "none", "periods": [], "psi": None,
                "reasons": ["no rows in the window: nothing to backtest"]}  # fmt: skip
    unit = "M" if period == "month" else "W"
    starts = day.astype(f"datetime64[{unit}]") if unit == "M" else (
        day - ((day.astype(np.int64) + 3) % 7).astype("timedelta64[D]"))  # fmt: skip
    periods, findings = [], []
    for start in np.unique(starts):
        rows = starts == start
        summary = regression_summary(actual[rows], predicted[rows]) or {}
        periods.append({"start": str(np.datetime64(start, "D")), **summary})
        if reference_rmse and rows.sum() >= min_rows:
            ratio = summary["rmse"] / reference_rmse
            text = (f"{period} of {np.datetime64(start, 'D')}: RMSE {summary['rmse']:.4g} is "
                    f"{ratio:.2f}x the test RMSE {reference_rmse:.4g}")  # fmt: skip
            if ratio > 1 + 2 * tolerance:
                findings.append(("unstable", text))
            elif ratio > 1 + tolerance:
                findings.append(("watch", text))
    drift = psi(reference_p, predicted) if reference_p is not None else None
    if drift is not None and drift > psi_unstable:
        findings.append(("unstable", f"predictions have shifted: PSI {drift:.3f}"))
    elif drift is not None and drift > psi_watch:
        findings.append(("watch", f"predictions are drifting: PSI {drift:.3f}"))
    levels = {level for level, _ in findings}
    verdict = "unstable" if "unstable" in levels else "watch" if levels else "stable"
    reasons = [text for _, text in findings] or [
        f"every assessable {period} within {tolerance:.0%} of the test RMSE"
        + (f"; PSI {drift:.3f}" if drift is not None else "")
    ]
    return {
        "period": period, "n": int(actual.size), "psi": drift, "reference_rmse": reference_rmse,
        "verdict": verdict, "reasons": reasons, "periods": periods,
        **(regression_summary(actual, predicted) or {}),
    }  # fmt: skip
