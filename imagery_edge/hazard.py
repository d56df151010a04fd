"""From per-tile labels to a region x month hazard table (pure: Arrow in, Arrow out).

The rule, per region and calendar month:

- cloud tiles never count as evidence, either way;
- ``flood`` is true when at least half of the month's clear (non-cloud) tiles are
  classified flood, and at least one is; ``drought`` likewise. A flood rarely covers a
  whole region, so a tie (one flood tile, one normal) counts; one flood tile among
  three clear ones does not, so a single misclassified pass cannot make a flood month;
- a month whose tiles are all cloudy has no evidence: ``flood`` and ``drought`` are
  false and ``cloud_tiles`` says why (its other counts are 0).

A month with both a flood and a drought tile (one each) is both.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["HAZARD_COLUMNS", "LABELS", "region_month_table"]

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
