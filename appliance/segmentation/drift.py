"""Segment-size drift: today's segment shares against the shares at training, as PSI.

The PSI is ``appliance.evaluation.psi`` itself, given the training segments as the
expected sample and one bin per segment, so the number is read like every other PSI
in the appliance (stable below 0.10, watch to 0.25, act above; the monitoring bands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from appliance.errors import SchemaError

__all__ = ["SegmentDrift", "segment_drift"]


@dataclass(frozen=True)
class SegmentDrift:
    psi: float
    level: str
    """``stable``, ``watch`` or ``act`` by the monitoring PSI bands."""
    training_shares: tuple[float, ...]
    current_shares: tuple[float, ...]
    rows: int
    """Current rows compared."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "psi": self.psi, "level": self.level, "rows": self.rows,
            "training_shares": list(self.training_shares),
            "current_shares": list(self.current_shares),
        }  # fmt: skip


def segment_drift(training_sizes: Sequence[int], current: ArrayLike) -> SegmentDrift:
    """PSI of the ``current`` segment labels against the training segment sizes
    (``SegmentationArtifact.sizes``); every segment is its own bin."""
    from appliance.evaluation import psi
    from appliance.monitoring.bands import DEFAULT_BANDS

    sizes = np.asarray(training_sizes, dtype=np.int64)
    k = sizes.size
    if k < 2 or (sizes <= 0).any():
        raise SchemaError(f"training segment sizes must be {k} positive counts, got {list(sizes)}")
    labels = np.asarray(current)
    if labels.size == 0:
        raise SchemaError("segment drift needs at least one current row")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.number) or (labels != np.round(labels)).any():
            raise SchemaError("current segments must be whole segment numbers")
        labels = labels.astype(np.int64)
    labels = labels.ravel()
    outside = labels[(labels < 0) | (labels >= k)]
    if outside.size:
        raise SchemaError(f"segment {int(outside[0])} does not exist: segments are 0 to {k - 1}")
    expected = np.repeat(np.arange(k, dtype=np.float64), sizes)
    value = psi(expected, labels.astype(np.float64), bins=int(expected.size))
    counts = np.bincount(labels, minlength=k)
    return SegmentDrift(
        psi=value, level=DEFAULT_BANDS["psi"].level(value),
        training_shares=tuple(float(s) for s in sizes / sizes.sum()),
        current_shares=tuple(float(c) for c in counts / labels.size), rows=int(labels.size),
    )  # fmt: skip
