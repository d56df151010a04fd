"""What a threshold means for the business: how many are approved, and how bad they are.

Approved rows are the ones *not* flagged (``p < threshold``). Observed rates need
outcomes; at scoring time, before outcomes exist, pass ``y=None`` and only the
expected rates (mean ``p``) are filled in.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import MetricError, as_labels, as_scores

__all__ = ["business_metrics"]


def business_metrics(
    y: ArrayLike | None, p: ArrayLike, threshold: float
) -> dict[str, float | int | None]:
    """Approval volume and bad rates at ``threshold``.

    Keys: threshold, n, approved, declined, approval_rate, observed_bad_rate_approved,
    expected_bad_rate_approved, observed_bad_rate_declined, expected_bad_rate_declined,
    overall_bad_rate, expected_overall_bad_rate. A rate over no rows, and every observed
    rate when ``y`` is None, is None.
    """
    scores = as_scores(p)
    labels = None if y is None else as_labels(y)
    if labels is not None and labels.shape != scores.shape:
        raise MetricError(f"y has {labels.size} rows but p has {scores.size}")
    approved = scores < threshold
    n, n_ok = int(scores.size), int(approved.sum())
    return {
        "threshold": float(threshold),
        "n": n,
        "approved": n_ok,
        "declined": n - n_ok,
        "approval_rate": n_ok / n if n else None,
        "observed_bad_rate_approved": _mean(labels, approved),
        "expected_bad_rate_approved": _mean(scores, approved),
        "observed_bad_rate_declined": _mean(labels, ~approved),
        "expected_bad_rate_declined": _mean(scores, ~approved),
        "overall_bad_rate": _mean(labels, np.ones(n, dtype=bool)),
        "expected_overall_bad_rate": _mean(scores, np.ones(n, dtype=bool)),
    }


def _mean(
    values: NDArray[np.int64] | NDArray[np.float64] | None, mask: NDArray[np.bool_]
) -> float | None:
    if values is None or not mask.any():
        return None
    return float(np.mean(values[mask]))
