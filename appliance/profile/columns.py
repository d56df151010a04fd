"""One column's statistics, by kind: numbers, categories and booleans, dates.

Every function here sees the whole column (exact counts, quantiles and target
rates) and hands back, besides its ColumnProfile, the per-row array the pairwise
measures sample from: floats with NaN for numbers, pooled level codes for categories.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from appliance.profile.results import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    OTHER,
    ColumnProfile,
    DateSummary,
    Distribution,
    NumericSummary,
    ProfileConfig,
    TargetBin,
    TargetRates,
    ValueCount,
)

__all__ = ["QUANTILES", "as_float", "column_kind", "profile_column"]

QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


def column_kind(arrow_type: pa.DataType) -> str:
    """How a column is profiled, from its Arrow type."""
    t = pa.types
    if t.is_dictionary(arrow_type):
        return column_kind(arrow_type.value_type)
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return NUMERIC
    if t.is_boolean(arrow_type):
        return BOOLEAN
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type):
        return CATEGORICAL
    if t.is_date(arrow_type) or t.is_timestamp(arrow_type):
        return DATETIME
    return OTHER


def as_float(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric or boolean column as float64, NaN where missing."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    floats = pc.fill_null(pc.cast(column, pa.float64()), math.nan)
    return np.asarray(floats.to_numpy(), dtype=np.float64)


def profile_column(
    col: pa.ChunkedArray, name: str, y: np.ndarray | None, cfg: ProfileConfig
) -> tuple[ColumnProfile, np.ndarray | None]:
    """Profile one column (with target rates when ``y`` is given).

    Also returns the per-row array pairwise measures use: floats for numbers, pooled
    level codes for categories and booleans, None for other kinds.
    """
    kind = column_kind(col.type)
    if kind == NUMERIC:
        return _numeric(col, name, y, cfg)
    if kind in (BOOLEAN, CATEGORICAL):
        return _categorical(col, name, kind, y, cfg)
    if kind == DATETIME:
        return _datetime(col, name, y), None
    try:
        distinct = pc.count_distinct(col, mode="only_valid").as_py()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        distinct = None
    return ColumnProfile(name, str(col.type), kind, len(col), col.null_count, distinct), None


# --- numeric ---------------------------------------------------------------------------

_FEW_VALUES = 12  # up to this many distinct numbers: one bar per value instead of a histogram


def _numeric(
    col: pa.ChunkedArray, name: str, y: np.ndarray | None, cfg: ProfileConfig
) -> tuple[ColumnProfile, np.ndarray]:
    v = as_float(col)
    missing = int(np.count_nonzero(np.isnan(v)))
    x = np.sort(v[np.isfinite(v)])
    infinite = v.size - missing - x.size
    distinct = int(np.count_nonzero(np.diff(x))) + 1 if x.size else 0
    distinct += np.unique(v[np.isinf(v)]).size
    summary = _numeric_summary(x, v, infinite) if x.size else None
    profile = ColumnProfile(
        name,
        str(col.type),
        NUMERIC,
        v.size,
        missing,
        distinct,
        numeric=summary,
        distribution=_numeric_distribution(x, distinct, summary, cfg) if summary else None,
        target=_numeric_target(v, y, distinct, cfg) if y is not None and distinct > 1 else None,
    )
    return profile, v


def _numeric_summary(x: np.ndarray, v: np.ndarray, infinite: int) -> NumericSummary:
    """Moments and quantiles of the sorted finite values ``x`` (``v``: all values)."""
    mean = float(x.mean())
    d = x - mean
    spread = math.sqrt(float(np.dot(d, d)) / x.size)
    std = spread * math.sqrt(x.size / (x.size - 1)) if x.size > 1 else math.nan
    z = d / spread if spread > 0 else d
    skew = float(np.dot(z * z, z)) / x.size if spread > 0 else math.nan
    p1, p25, p50, p75, p99 = (float(value) for value in np.quantile(x, QUANTILES))
    return NumericSummary(
        mean=mean,
        std=std,
        min=float(x[0]),
        p1=p1,
        p25=p25,
        p50=p50,
        p75=p75,
        p99=p99,
        max=float(x[-1]),
        zeros=int(np.count_nonzero(x == 0)),
        negatives=int(np.count_nonzero(v < 0)),
        infinite=infinite,
        skew=skew,
    )


def _numeric_distribution(
    x: np.ndarray, distinct: int, s: NumericSummary, cfg: ProfileConfig
) -> Distribution:
    """Bars of each value when there are few, else a histogram (p1..p99 for long tails)."""
    if distinct <= _FEW_VALUES:
        values, counts = np.unique(x, return_counts=True)
        return Distribution("bars", _ints(counts), labels=tuple(_fmt(v) for v in values))
    lo, hi = s.min, s.max
    if s.p99 > s.p1 and hi - lo > 3 * (s.p99 - s.p1):  # long tails: show p1..p99
        lo, hi = s.p1, s.p99
    edges = _bin_edges(x, lo, hi, cfg.histogram_bins)
    counts, _ = np.histogram(x, bins=edges)
    below = int(np.searchsorted(x, edges[0], side="left"))
    above = int(x.size - np.searchsorted(x, edges[-1], side="right"))
    return Distribution(
        "histogram", _ints(counts), edges=tuple(map(float, edges)), below=below, above=above
    )


def _bin_edges(x: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Equal-width edges over [lo, hi]; for whole numbers, whole widths centred on integers."""
    if not np.array_equal(x, np.floor(x)):
        return np.linspace(lo, hi, bins + 1)
    lo, hi = math.floor(lo), math.ceil(hi)
    width = max(1, math.ceil((hi - lo + 1) / bins))
    return np.arange(lo - 0.5, hi + 0.5 + width, width)[: math.ceil((hi - lo + 1) / width) + 1]


def _numeric_target(v: np.ndarray, y: np.ndarray, distinct: int, cfg: ProfileConfig) -> TargetRates:
    known = ~np.isnan(y)
    v, y = v[known], y[known]
    present = ~np.isnan(v)
    values = v[present]
    if distinct <= cfg.target_bins:
        levels = np.unique(values)
        codes, labels, method = np.searchsorted(levels, values), [_fmt(x) for x in levels], "values"
    else:
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, cfg.target_bins + 1)))
        codes = np.searchsorted(edges[1:-1], values, side="right")
        labels, method = _interval_labels(edges), "quantile bins"
    return _rates(codes, y[present], labels, y[~present], method)


def _interval_labels(edges: np.ndarray) -> list[str]:
    last = len(edges) - 2
    return [
        f"[{_fmt(a)}, {_fmt(b)}{']' if i == last else ')'}"
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    ]


def _rates(
    codes: np.ndarray, y: np.ndarray, labels: list[str], y_missing: np.ndarray, method: str
) -> TargetRates:
    """Rows and positives per bin code; rows missing the feature form their own bin."""
    k = len(labels)
    rows = np.bincount(codes, minlength=k)
    positives = np.bincount(codes, weights=y, minlength=k)
    bins = [
        TargetBin(label, int(r), round(p))
        for label, r, p in zip(labels, rows, positives, strict=False)
        if r
    ]
    if y_missing.size:
        bins.append(TargetBin("(missing)", int(y_missing.size), round(float(y_missing.sum()))))
    total = int(rows.sum()) + y_missing.size
    overall = (float(positives.sum()) + float(y_missing.sum())) / total if total else math.nan
    return TargetRates(method, tuple(bins), overall)


# --- categorical and boolean -----------------------------------------------------------


def _categorical(
    col: pa.ChunkedArray, name: str, kind: str, y: np.ndarray | None, cfg: ProfileConfig
) -> tuple[ColumnProfile, np.ndarray]:
    codes, dictionary, counts = _encode(col)
    rows, missing = codes.size, int(np.count_nonzero(codes < 0))
    order = np.argsort(-counts, kind="stable")
    present = order[counts[order] > 0]
    shown = present[: cfg.top_values]
    names = [_label(value) for value in dictionary.take(pa.array(shown, pa.int64())).to_pylist()]
    top = tuple(
        ValueCount(n, int(counts[i]), counts[i] / rows) for n, i in zip(names, shown, strict=True)
    )
    other = rows - missing - sum(t.count for t in top)
    all_unique = bool(top) and top[0].count == 1
    distribution = None
    if top and not all_unique:
        distribution = Distribution(
            "bars", tuple(t.count for t in top), labels=tuple(names), other=other
        )
    rates = None
    if y is not None and present.size > 1 and not cfg.many_levels(present.size, rows - missing):
        known = ~np.isnan(y)
        pooled, yk = _pool(codes, shown, counts.size)[known], y[known]
        has = pooled >= 0
        rates = _rates(pooled[has], yk[has], [*names, "(other)"], yk[~has], "top levels")
    profile = ColumnProfile(
        name,
        str(col.type),
        kind,
        rows,
        missing,
        int(present.size),
        top=top,
        distribution=distribution,
        target=rates,
    )
    return profile, _pool(codes, present[: cfg.max_levels], counts.size)


def _encode(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Integer codes per row (-1 where missing), the distinct values, and rows per value."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string_view(col.type):
        col = col.cast(pa.large_string())
    encoded = pc.dictionary_encode(col.combine_chunks())
    codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(), dtype=np.int64)
    counts = np.bincount(codes[codes >= 0], minlength=len(encoded.dictionary))
    return codes, encoded.dictionary, counts


def _pool(codes: np.ndarray, keep: np.ndarray, size: int) -> np.ndarray:
    """Codes renumbered 0..len(keep)-1 for the kept values, len(keep) for the rest, -1 missing."""
    mapping = np.full(max(size, 1), keep.size, dtype=np.int64)
    mapping[keep] = np.arange(keep.size)
    return np.where(codes >= 0, mapping[np.maximum(codes, 0)], -1)


# --- dates -----------------------------------------------------------------------------


def _datetime(col: pa.ChunkedArray, name: str, y: np.ndarray | None) -> ColumnProfile:
    distinct = pc.count_distinct(col, mode="only_valid").as_py()
    profile = ColumnProfile(name, str(col.type), DATETIME, len(col), col.null_count, distinct)
    keys, period = _period_keys(col)
    valid = keys >= 0
    if not valid.any():
        return profile
    first = int(keys[valid].min())
    counts = np.bincount(keys[valid] - first)
    labels = [_period_label(first + i, period) for i in range(counts.size)]
    extremes = pc.min_max(col)
    fmt = "%Y-%m-%d" if pa.types.is_date(col.type) else "%Y-%m-%d %H:%M:%S"
    by_period = tuple(
        ValueCount(label, int(c), int(c) / len(col))
        for label, c in zip(labels, counts, strict=True)
        if c
    )
    dates = DateSummary(
        pc.strftime(extremes["min"], fmt).as_py(),
        pc.strftime(extremes["max"], fmt).as_py(),
        period,
        by_period,
    )
    rates = None
    if y is not None:
        known = ~np.isnan(y)
        k, yk = keys[known], y[known]
        rates = _rates(k[k >= 0] - first, yk[k >= 0], labels, yk[k < 0], period)
    timeline = Distribution("timeline", _ints(counts), labels=tuple(labels))
    return replace(profile, dates=dates, distribution=timeline, target=rates)


def _period_keys(col: pa.ChunkedArray) -> tuple[np.ndarray, str]:
    """Per row: months since year 0 (years, for spans over ten years); -1 where missing."""
    month = pc.add(pc.multiply(pc.year(col), 12), pc.subtract(pc.month(col), 1))
    keys = np.asarray(pc.fill_null(month, -1).to_numpy(), dtype=np.int64)
    valid = keys >= 0
    if valid.any() and keys[valid].max() - keys[valid].min() >= 120:
        return np.where(valid, keys // 12, -1), "year"
    return keys, "month"


def _period_label(key: int, period: str) -> str:
    return f"{key:04d}" if period == "year" else f"{key // 12:04d}-{key % 12 + 1:02d}"


def _ints(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _label(value: object) -> str:
    return "(empty string)" if value == "" else str(value)


def _fmt(value: float) -> str:
    """A number short enough for an axis label or a bin edge."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3g}"
