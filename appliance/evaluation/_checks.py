"""The error every evaluation function raises, and the input checks they all start with.

``y`` is a 0/1 label array (1 = the positive class: defaulted, fraud), ``p`` a float score
per row. Both are turned into 1-D numpy arrays here, once, with a message that says what
is wrong and what to pass instead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.errors import ApplianceError

__all__ = [
    "MetricError",
    "as_labels",
    "as_pair",
    "as_probabilities",
    "as_scores",
    "require_both_classes",
    "require_rows",
]


class MetricError(ApplianceError, ValueError):
    """Labels or scores a metric cannot be computed on (one class only, bad values, no rows)."""

    exit_code = 4
    http_status = 422


def as_labels(y: ArrayLike, name: str = "y") -> NDArray[np.int64]:
    """``y`` as a 1-D int64 array of 0s and 1s; anything else raises ``MetricError``."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise MetricError(f"{name} must be a 1-D array of 0/1 labels, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise MetricError(f"{name} must hold 0/1 labels, got dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise MetricError(
            f"{name} must hold only 0 and 1 (1 = the positive class); "
            f"found {arr[bad][0]!r} in {int(bad.sum())} row(s)"
        )
    return arr.astype(np.int64)


def as_scores(p: ArrayLike, name: str = "p") -> NDArray[np.float64]:
    """``p`` as a 1-D float64 array of finite scores."""
    arr = np.asarray(p)
    if arr.ndim != 1:
        raise MetricError(f"{name} must be a 1-D array of scores, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise MetricError(f"{name} must hold numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        raise MetricError(
            f"{name} has {int((~finite).sum())} missing or infinite score(s); "
            "score every row before evaluating"
        )
    return out


def as_probabilities(p: ArrayLike, name: str = "p") -> NDArray[np.float64]:
    """Like ``as_scores``, and every value must lie in [0, 1]."""
    out = as_scores(p, name)
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise MetricError(
            f"{name} must be probabilities in [0, 1]; found values from "
            f"{out.min():g} to {out.max():g}"
        )
    return out


def as_pair(
    y: ArrayLike, p: ArrayLike, *, probabilities: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Checked labels and scores of the same length."""
    labels = as_labels(y)
    scores = as_probabilities(p) if probabilities else as_scores(p)
    if labels.shape != scores.shape:
        raise MetricError(
            f"y and p must have one value per row: got {labels.size} labels "
            f"and {scores.size} scores"
        )
    return labels, scores


def require_rows(y: NDArray[np.generic], what: str) -> None:
    """Raise unless there is at least one row."""
    if y.size == 0:
        raise MetricError(f"{what} needs at least one row; got none")


def require_both_classes(y: NDArray[np.int64], what: str) -> None:
    """Raise unless ``y`` holds both a 0 and a 1."""
    require_rows(y, what)
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        only = "positives (1)" if positives else "negatives (0)"
        raise MetricError(
            f"{what} is undefined when y holds only one class: all {y.size} rows are {only}; "
            "evaluate on a sample with both outcomes"
        )
