"""Lift and capture: how much richer in positives the highest-scored rows are.

Rows are ranked by ``p``, highest first; equal scores keep their input order, so the
same data always gives the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import MetricError, as_pair, require_rows

__all__ = ["decile_table", "lift_table"]


def lift_table(
    y: ArrayLike, p: ArrayLike, buckets: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
) -> list[dict[str, float]]:
    """Cumulative lift of the top ``share`` of rows, for each share in ``buckets``.

    The top share holds ``round(share * n)`` rows (at least one). Rows: share, rows,
    min_p (the lowest score included), positives, rate, lift (rate / overall rate) and
    capture_rate (share of all positives found there).
    """
    labels, ys, ps = _ranked(y, p, "a lift table")
    shares = [float(s) for s in buckets]
    bad = [s for s in shares if not 0.0 < s <= 1.0]
    if bad:
        raise MetricError(f"lift buckets are shares of rows in (0, 1]; got {bad}")
    cum = np.cumsum(ys)
    total = int(cum[-1])
    overall = total / labels.size
    rows = []
    for share in shares:
        k = max(1, round(share * labels.size))
        positives = int(cum[k - 1])
        rows.append(
            {
                "share": share,
                "rows": k,
                "min_p": float(ps[k - 1]),
                "positives": positives,
                "rate": positives / k,
                "lift": positives / k / overall,
                "capture_rate": positives / total,
            }
        )
    return rows


def decile_table(y: ArrayLike, p: ArrayLike, n: int = 10) -> list[dict[str, float]]:
    """Per-bucket (not cumulative) rates for a lift chart, bucket 1 holding the top scores.

    Buckets have equal row counts (sizes differ by at most one). Rows: bucket, n,
    positives, rate, mean_p, lift.
    """
    labels, ys, ps = _ranked(y, p, "a decile table")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MetricError(f"n must be a positive number of buckets, got {n!r}")
    overall = ys.sum() / labels.size
    rows = []
    for i, (yb, pb) in enumerate(zip(np.array_split(ys, n), np.array_split(ps, n), strict=True)):
        if yb.size == 0:
            continue
        rate = float(yb.mean())
        rows.append(
            {
                "bucket": i + 1,
                "n": int(yb.size),
                "positives": int(yb.sum()),
                "rate": rate,
                "mean_p": float(pb.mean()),
                "lift": rate / overall,
            }
        )
    return rows


def _ranked(
    y: ArrayLike, p: ArrayLike, what: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Checked labels, then labels and scores ordered by score, highest first."""
    labels, scores = as_pair(y, p)
    require_rows(labels, what)
    if not labels.any():
        raise MetricError(f"{what} needs at least one positive (y == 1); lift is undefined")
    order = np.argsort(-scores, kind="stable")
    return labels, labels[order], scores[order]
