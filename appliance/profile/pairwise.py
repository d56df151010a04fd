"""Pairwise measures between columns: Pearson, Spearman, Cramér's V, correlation ratio.

Pure numpy on already-sampled arrays: numbers as float64 with NaN for missing,
categories as integer codes with -1 for missing.
"""

from __future__ import annotations

import math

import numpy as np

from appliance.profile.results import Matrix

__all__ = [
    "association_matrices",
    "average_ranks",
    "correlation_ratio",
    "cramers_v",
    "pearson_matrix",
]


def association_matrices(
    numeric: dict[str, np.ndarray], categorical: dict[str, np.ndarray]
) -> tuple[Matrix, ...]:
    """Pearson and Spearman between numbers, Cramér's V between categories, η across."""
    out = []
    if len(numeric) >= 2:
        names = tuple(numeric)
        x = np.column_stack(list(numeric.values()))
        out.append(_matrix("pearson", "Pearson r", names, names, pearson_matrix(x)))
        ranks = np.column_stack([average_ranks(c) for c in x.T])
        out.append(_matrix("spearman", "Spearman ρ", names, names, pearson_matrix(ranks)))
    if len(categorical) >= 2:
        names = tuple(categorical)
        v = [[cramers_v(categorical[a], categorical[b]) for b in names] for a in names]
        out.append(_matrix("cramers_v", "Cramér's V (bias-corrected)", names, names, v))
    if numeric and categorical:
        v = [[correlation_ratio(numeric[a], categorical[b]) for b in categorical] for a in numeric]
        out.append(
            _matrix(
                "correlation_ratio", "correlation ratio η", tuple(numeric), tuple(categorical), v
            )
        )
    return tuple(out)


def _matrix(
    name: str, method: str, rows: tuple[str, ...], columns: tuple[str, ...], values: object
) -> Matrix:
    grid = np.asarray(values, dtype=np.float64)
    return Matrix(name, method, rows, columns, tuple(tuple(map(float, r)) for r in grid))


def pearson_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson r between the columns of ``x``, each pair over the rows where both are present."""
    m = (~np.isnan(x)).astype(np.float64)
    with np.errstate(all="ignore"):
        xc = np.where(m > 0, x - np.nanmean(x, axis=0), 0.0)
        n = m.T @ m
        sx = xc.T @ m
        var = (xc * xc).T @ m - sx * sx / n
        r = (xc.T @ xc - sx * sx.T / n) / np.sqrt(var * var.T)
    r[n < 3] = np.nan
    return np.clip(r, -1.0, 1.0)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the present values, ties sharing their average rank; NaN stays NaN."""
    out = np.full(x.shape, np.nan)
    present = ~np.isnan(x)
    _, inverse, counts = np.unique(x[present], return_inverse=True, return_counts=True)
    out[present] = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return out


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) of two code arrays, -1 meaning missing."""
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    n = a.size
    if n < 2:
        return math.nan
    kb = int(b.max()) + 1
    table = np.bincount(a * kb + b, minlength=(int(a.max()) + 1) * kb).reshape(-1, kb)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0].astype(np.float64)
    r, k = table.shape
    if min(r, k) < 2:
        return math.nan
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum()) / n
    phi2c = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(rc - 1, kc - 1)
    return math.sqrt(phi2c / denominator) if denominator > 0 else math.nan


def correlation_ratio(x: np.ndarray, codes: np.ndarray) -> float:
    """η: how much of a number's variance the categories explain (sqrt of SS between / total)."""
    both = ~np.isnan(x) & (codes >= 0)
    x, codes = x[both], codes[both]
    if x.size < 2:
        return math.nan
    sizes = np.bincount(codes)
    sums = np.bincount(codes, weights=x)
    used = sizes > 0
    mean = x.mean()
    total = float(((x - mean) ** 2).sum())
    between = float((sizes[used] * (sums[used] / sizes[used] - mean) ** 2).sum())
    return math.sqrt(min(1.0, between / total)) if total > 0 else math.nan
