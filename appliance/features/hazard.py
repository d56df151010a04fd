"""Regional hazard: the one rule that makes a region-month a flood or drought month, and
point-in-time hazard history features built on it.

From per-tile labels to a region x month hazard table (pure: Arrow in, Arrow out).
The rule, per region and calendar month:

- cloud tiles never count as evidence, either way;
- ``flood`` is true when at least half of the month's clear (non-cloud) tiles are
  classified flood, and at least one is; ``drought`` likewise. A flood rarely covers a
  whole region, so a tie (one flood tile, one normal) counts; one flood tile among
  three clear ones does not, so a single misclassified pass cannot make a flood month;
- a month whose tiles are all cloudy has no evidence: ``flood`` and ``drought`` are
  false and ``cloud_tiles`` says why (its other counts are 0).

A month with both a flood and a drought tile (one each) is both.

For a decision dated in month M, ``hazard_history`` counts such months in
[M - 12 y, M): whole months strictly before the decision's month, so every tile behind
it was acquired before the decision date. The imagery job publishes the same table
(``imagery_edge.hazard`` re-exports it), so BI and the model never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from appliance.features.columns import as_days, as_text

__all__ = ["HAZARD_COLUMNS", "LABELS", "hazard_history", "region_month_flags", "region_month_table"]

LABELS = ("normal", "flood", "drought", "cloud")
HAZARD_COLUMNS = (
    "region",
    "month",
    "flood_tiles",
    "drought_tiles",
    "normal_tiles",
    "cloud_tiles",
    "flood",
    "drought",
)


def region_month_table(labels: pa.Table) -> pa.Table:
    """Count labels per (region, month) and apply the rule above.

    ``labels`` needs columns ``region`` (string), ``acquired`` (date) and ``label``
    (``normal|flood|drought|cloud``); other columns are ignored. The result has
    ``HAZARD_COLUMNS``: ``month`` is the first day of the month (date32), the counts are
    int64, ``flood`` and ``drought`` bool; sorted by region, then month."""
    missing = {"region", "acquired", "label"} - set(labels.column_names)
    if missing:
        raise ValueError(f"labels lack column(s) {', '.join(sorted(missing))}")
    acquired = labels.column("acquired").cast(pa.date32())
    months = pc.cast(pc.floor_temporal(acquired, unit="month"), pa.date32())
    counts = {
        f"{label}_tiles": pc.cast(pc.equal(labels.column("label"), label), pa.int64())
        for label in LABELS
    }
    per_tile = pa.table({"region": labels.column("region"), "month": months, **counts})
    grouped = per_tile.group_by(["region", "month"]).aggregate([(name, "sum") for name in counts])
    sums = {name: pc.fill_null(grouped.column(f"{name}_sum"), 0) for name in counts}
    clear = pc.add(pc.add(sums["normal_tiles"], sums["flood_tiles"]), sums["drought_tiles"])
    flags = {kind: _at_least_half(sums[f"{kind}_tiles"], clear) for kind in ("flood", "drought")}
    table = pa.table(
        {
            "region": grouped.column("region").cast(pa.string()),
            "month": grouped.column("month"),
            "flood_tiles": sums["flood_tiles"],
            "drought_tiles": sums["drought_tiles"],
            "normal_tiles": sums["normal_tiles"],
            "cloud_tiles": sums["cloud_tiles"],
            **flags,
        }
    )
    return table.sort_by([("region", "ascending"), ("month", "ascending")])


def _at_least_half(hits: pa.ChunkedArray, clear: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.and_(pc.greater(hits, 0), pc.greater_equal(pc.multiply(hits, 2), clear))


def region_month_flags(
    labels: pa.Table,
) -> tuple[np.ndarray, np.datetime64, dict[str, np.ndarray]]:
    """Regions (sorted), the first month, and per hazard a regions x months boolean grid."""
    known = pc.and_(pc.is_valid(labels.column("region")), pc.is_valid(labels.column("acquired")))
    table = region_month_table(labels.filter(known))
    if not table.num_rows:
        return np.array([], dtype=str), np.datetime64("2000-01", "M"), {}
    region = as_text(table.column("region")).astype(str)
    month = as_days(table.column("month")).astype("datetime64[M]")
    regions = np.unique(region)
    first = month.min()
    span = int((month.max() - first).astype(int)) + 1
    r = np.searchsorted(regions, region)
    m = (month - first).astype(int)
    grids = {}
    for hazard in ("flood", "drought"):
        grid = np.zeros((regions.size, span), dtype=bool)
        hit = np.asarray(table.column(hazard).to_numpy(zero_copy_only=False), dtype=bool)
        grid[r[hit], m[hit]] = True
        grids[hazard] = grid
    return regions, first, grids


def hazard_history(
    labels: pa.Table, regions: np.ndarray, as_of: np.ndarray, years: Sequence[int]
) -> dict[str, np.ndarray]:
    """``flood_months_{y}y`` and ``drought_months_{y}y`` for each row's region and date.

    Rows whose region has no labelled tiles at all get NaN (unknown, not "no hazard").
    """
    known, first, running = _running_counts(labels)
    n = len(regions)
    if not known.size:
        return {f"{h}_months_{y}y": np.full(n, np.nan) for h in ("flood", "drought") for y in years}
    keys = np.asarray([r if r is not None else "" for r in regions], dtype=str)
    position = np.clip(np.searchsorted(known, keys), 0, known.size - 1)
    found = (known[position] == keys) & ~np.isnat(as_of)
    end = (as_of.astype("datetime64[M]") - first).astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for hazard, cumulative in running.items():
        width = cumulative.shape[1] - 1
        for y in years:
            hi = np.clip(end, 0, width)
            lo = np.clip(end - 12 * y, 0, width)
            counts = cumulative[position, hi] - cumulative[position, lo]
            out[f"{hazard}_months_{y}y"] = np.where(found, counts, np.nan).astype(np.float64)
    return out


_RUNNING: dict[int, tuple[pa.Table, Any]] = {}


def _running_counts(labels: pa.Table) -> tuple[np.ndarray, np.datetime64, dict[str, np.ndarray]]:
    """Regions, first month, and per hazard the running count of hazard months per region.

    Kept for the last few label tables seen (by identity; the table itself is held, so
    its id cannot be reused): real-time scoring asks for one applicant at a time over
    the same labels, and grouping every tile per request would dominate its latency.
    """
    hit = _RUNNING.get(id(labels))
    if hit is not None and hit[0] is labels:
        return hit[1]
    known, first, grids = region_month_flags(labels)
    running = {
        hazard: np.concatenate(
            [np.zeros((grid.shape[0], 1), np.int64), np.cumsum(grid, axis=1)], axis=1
        )
        for hazard, grid in grids.items()
    }
    if len(_RUNNING) >= 4:
        _RUNNING.pop(next(iter(_RUNNING)))
    _RUNNING[id(labels)] = (labels, (known, first, running))
    return known, first, running
