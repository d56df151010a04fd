"""Regional hazard history from satellite tile labels, point-in-time.

A region-month counts as a flood (drought) month when at least one of its clear tiles
is labelled flood (drought); cloudy tiles are not evidence either way. For a decision
dated in month M, the feature counts such months in [M - 12 y, M): whole months
strictly before the decision's month, so every tile behind it was acquired before
the decision date.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from appliance.features.columns import as_days, as_text

__all__ = ["hazard_history", "region_month_flags"]


def region_month_flags(
    labels: pa.Table,
) -> tuple[np.ndarray, np.datetime64, dict[str, np.ndarray]]:
    """Regions (sorted), the first month, and per hazard a regions x months boolean grid."""
    region = as_text(labels.column("region"))
    month = as_days(labels.column("acquired")).astype("datetime64[M]")
    label = as_text(labels.column("label"))
    valid = (region != None) & ~np.isnat(month)  # noqa: E711 - elementwise None test
    region, month, label = region[valid], month[valid], label[valid]
    regions = np.unique(region.astype(str)) if region.size else np.array([], dtype=str)
    if not regions.size:
        return regions, np.datetime64("2000-01", "M"), {}
    first = month.min()
    span = int((month.max() - first).astype(int)) + 1
    r = np.searchsorted(regions, region.astype(str))
    m = (month - first).astype(int)
    grids = {}
    for hazard in ("flood", "drought"):
        grid = np.zeros((regions.size, span), dtype=bool)
        hit = label == hazard
        grid[r[hit], m[hit]] = True
        grids[hazard] = grid
    return regions, first, grids


def hazard_history(
    labels: pa.Table, regions: np.ndarray, as_of: np.ndarray, years: Sequence[int]
) -> dict[str, np.ndarray]:
    """``flood_months_{y}y`` and ``drought_months_{y}y`` for each row's region and date.

    Rows whose region has no labelled tiles at all get NaN (unknown, not "no hazard").
    """
    known, first, grids = region_month_flags(labels)
    n = len(regions)
    if not known.size:
        return {f"{h}_months_{y}y": np.full(n, np.nan) for h in ("flood", "drought") for y in years}
    keys = np.asarray([r if r is not None else "" for r in regions], dtype=str)
    position = np.clip(np.searchsorted(known, keys), 0, known.size - 1)
    found = (known[position] == keys) & ~np.isnat(as_of)
    end = (as_of.astype("datetime64[M]") - first).astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for hazard, grid in grids.items():
        zero = np.zeros((grid.shape[0], 1), np.int64)
        cumulative = np.concatenate([zero, np.cumsum(grid, axis=1)], axis=1)
        width = grid.shape[1]
        for y in years:
            hi = np.clip(end, 0, width)
            lo = np.clip(end - 12 * y, 0, width)
            counts = cumulative[position, hi] - cumulative[position, lo]
            out[f"{hazard}_months_{y}y"] = np.where(found, counts, np.nan).astype(np.float64)
    return out
