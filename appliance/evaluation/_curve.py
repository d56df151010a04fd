"""Cumulative confusion counts at every distinct score: the base of every curve.

Rows are sorted once by score, highest first; at each distinct score ``t`` we count the
positives (``tps``) and negatives (``fps``) with ``p >= t``. ``counts_at`` does the same
for arbitrary thresholds with a binary search on the sorted scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CumulativeCounts", "counts_at", "cumulative_counts"]


@dataclass(frozen=True)
class CumulativeCounts:
    """Flagged positives and negatives at each distinct score, highest score first."""

    thresholds: NDArray[np.float64]
    """Distinct scores, descending."""
    tps: NDArray[np.int64]
    """Positives with ``p >= thresholds[i]``."""
    fps: NDArray[np.int64]
    """Negatives with ``p >= thresholds[i]``."""
    positives: int
    negatives: int


def cumulative_counts(y: NDArray[np.int64], p: NDArray[np.float64]) -> CumulativeCounts:
    """Counts at each distinct score of ``p`` (``y`` and ``p`` already checked)."""
    order = np.argsort(p, kind="stable")[::-1]
    ps = p[order]
    ys = y[order]
    last_of_group = np.flatnonzero(np.r_[ps[1:] != ps[:-1], ps.size > 0])
    tps = np.cumsum(ys)[last_of_group]
    fps = last_of_group + 1 - tps
    positives = int(tps[-1]) if tps.size else 0
    return CumulativeCounts(
        thresholds=ps[last_of_group],
        tps=tps.astype(np.int64),
        fps=fps.astype(np.int64),
        positives=positives,
        negatives=int(y.size - positives),
    )


def counts_at(
    y: NDArray[np.int64], p: NDArray[np.float64], thresholds: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Flagged positives and negatives (``p >= t``) for each threshold ``t``."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    below_pos = np.r_[0, np.cumsum(y[order])]
    below = np.searchsorted(ps, thresholds, side="left")
    positives = int(below_pos[-1])
    tp = positives - below_pos[below]
    fp = (p.size - below) - tp
    return tp.astype(np.int64), fp.astype(np.int64)
