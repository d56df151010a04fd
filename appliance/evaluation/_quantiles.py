"""Equal-frequency bins that keep equal values together.

A bin is named by its smallest value (its *start*). Starts are the sample's values at
evenly spaced ranks, deduplicated, so every bin of the sample is non-empty and ties never
straddle two bins; heavy ties simply give fewer bins.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from appliance.evaluation._checks import MetricError

__all__ = ["bin_index", "quantile_starts"]


def quantile_starts(values: NDArray[np.float64], bins: int) -> NDArray[np.float64]:
    """Ascending bin starts: at most ``bins`` of them, the first being ``values.min()``."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise MetricError(f"bins must be a positive integer, got {bins!r}")
    ordered = np.sort(values)
    ranks = (np.arange(bins) * ordered.size) // bins
    return np.unique(ordered[ranks])


def bin_index(starts: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.intp]:
    """The bin of each value; below the first start is bin 0, above the last the last bin."""
    return np.searchsorted(starts[1:], values, side="right")
