"""Drift between two samples of one variable: PSI on reference quantile bins and the
two-sample Kolmogorov-Smirnov test, for many columns at once.

Each column of both samples is sorted once with numpy; the PSI bin counts are then a
handful of binary searches (the bin edges into the sorted current sample) and the KS
statistic one compiled merge walk over the two sorted arrays. Columns run on a small
thread pool (numpy's sort and the kernel release the GIL). Missing values (NaN,
infinities) are left out of both samples and counted.

Definitions, shared with the reference statistics stored at training
(``appliance.training.reference``):

* bins: the reference's interior quantiles at ``1/bins .. (bins-1)/bins`` (numpy's
  default linear method), duplicates dropped; a value ``x`` falls in bin
  ``#(edges <= x)``;
* PSI = sum over bins of ``(a - e) * ln(a / e)``, shares floored at ``1e-4`` so an empty
  bin gives no infinity (as ``appliance.evaluation.psi``);
* KS = the largest gap between the two empirical CDFs (exactly as
  ``scipy.stats.ks_2samp``); its two-sided p-value is that of ``ks_2samp(...,
  method="asymp")`` (``kstwo.sf`` at the effective size ``n * m / (n + m)``; scipy's
  default switches to an exact permutation p-value below 10,000 rows) up to an
  effective size of 10,000, and above it the
  limiting Kolmogorov distribution with Stephens' correction, which differs from
  scipy's by less than 1e-3 there and takes microseconds where ``kstwo.sf`` takes up to
  a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EXACT_P_UP_TO",
    "PSI_FLOOR",
    "SampleDrift",
    "compare_columns",
    "compare_samples",
    "interpolate_edges",
    "ks_p_value",
    "psi_from_counts",
    "quantile_edges",
    "quantile_ranks",
]

PSI_FLOOR = 1e-4
"""Smallest share a bin counts with in PSI (an empty bin would give infinity)."""


@dataclass(frozen=True)
class SampleDrift:
    """One column's drift; every figure is None when a side has no finite value."""

    psi: float | None
    ks: float | None
    ks_p: float | None
    reference_rows: int
    current_rows: int
    reference_missing: int
    current_missing: int
    edges: tuple[float, ...]


def quantile_edges(sorted_values: NDArray[np.float64], bins: int = 10) -> NDArray[np.float64]:
    """The interior quantile edges of an ascending sample, duplicates dropped: equal to
    ``np.unique(np.quantile(sample, q))`` (numpy's linear method, the same arithmetic),
    read straight from the sorted values instead of partitioning them again."""
    n = sorted_values.size
    if n == 0:
        return np.empty(0)
    before, after, gamma = quantile_ranks(n, bins)
    return interpolate_edges(sorted_values[before], sorted_values[after], gamma)


def quantile_ranks(
    n: int, bins: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """For the interior quantiles of ``n`` values: the ranks (0-based, ascending order)
    of the two values each lies between, and its fraction of the way (numpy's linear
    method)."""
    q = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    virtual = (n - 1) * q
    before = np.floor(virtual)
    after = before + 1.0
    last = virtual >= n - 1
    before[last] = after[last] = n - 1
    gamma = virtual - np.floor(virtual)
    return before.astype(np.intp), after.astype(np.intp), gamma


def interpolate_edges(
    low: NDArray[np.float64], high: NDArray[np.float64], gamma: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The quantiles between the values at the ranks :func:`quantile_ranks` gave, with
    numpy's arithmetic; duplicates dropped."""
    diff = high - low
    edges = np.where(gamma >= 0.5, high - diff * (1.0 - gamma), low + diff * gamma)
    return np.unique(edges)


def psi_from_counts(expected: ArrayLike, actual: ArrayLike, floor: float = PSI_FLOOR) -> float:
    """PSI between two histograms over the same bins (counts or shares, each scaled to 1)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


EXACT_P_UP_TO = 10_000
"""Largest effective sample size whose KS p-value comes from scipy's ``kstwo``."""


def ks_p_value(d: float, n_reference: int, n_current: int) -> float:
    """Two-sided p-value of a two-sample KS statistic ``d`` (see the module docstring)."""
    m, n = sorted((float(n_reference), float(n_current)), reverse=True)
    if n <= 0:
        raise ValueError("a KS p-value needs rows in both samples")
    en = m * n / (m + n)
    if en <= EXACT_P_UP_TO:
        from scipy.stats import kstwo

        return float(np.clip(kstwo.sf(d, max(np.round(en), 1.0)), 0.0, 1.0))
    from scipy.special import kolmogorov

    root = np.sqrt(en)
    return float(np.clip(kolmogorov((root + 0.12 + 0.11 / root) * d), 0.0, 1.0))


def compare_samples(
    reference: ArrayLike, current: ArrayLike, *, bins: int = 10, p_value: bool = True
) -> SampleDrift:
    """PSI and KS of ``current`` against ``reference`` (1-D numbers, NaN = missing)."""
    return compare_columns([reference], [current], bins=bins, p_values=p_value, threads=1)[0]


def compare_columns(
    reference: Sequence[ArrayLike] | NDArray[np.float64],
    current: Sequence[ArrayLike] | NDArray[np.float64],
    *,
    bins: int = 10,
    p_values: bool = True,
    threads: int = 2,
) -> list[SampleDrift]:
    """:func:`compare_samples` for each pair of columns; 2-D arrays are taken column-wise."""
    ref_cols = _columns(reference)
    cur_cols = _columns(current)
    if len(ref_cols) != len(cur_cols):
        raise ValueError(
            f"reference has {len(ref_cols)} columns and current {len(cur_cols)}; "
            "give one current column per reference column"
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer of at least 2, got {bins!r}")
    if threads <= 1 or len(ref_cols) <= 1:
        results = [_one(r, c, bins) for r, c in zip(ref_cols, cur_cols, strict=True)]
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="drift") as pool:
            pairs = zip(ref_cols, cur_cols, strict=True)
            results = list(pool.map(lambda rc: _one(rc[0], rc[1], bins), pairs))
    if p_values:
        results = [_with_p(r) for r in results]
    return results


def _columns(data: Sequence[ArrayLike] | NDArray[np.float64]) -> list[NDArray[np.float64]]:
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return [data[:, j] for j in range(data.shape[1])]
    return [np.asarray(column, dtype=np.float64).reshape(-1) for column in data]


def _one(reference: NDArray[np.float64], current: NDArray[np.float64], bins: int) -> SampleDrift:
    from appliance.monitoring.buckets import BucketedPair

    pair = BucketedPair(reference, current)
    n_ref, n_cur = pair.ref.finite, pair.cur.finite
    missing = (reference.size - n_ref, current.size - n_cur)
    if n_ref == 0 or n_cur == 0:
        return SampleDrift(None, None, None, n_ref, n_cur, *missing, ())
    before, after, gamma = quantile_ranks(n_ref, bins)
    ranks = np.r_[before, after]
    pair.gather(np.r_[pair.rank_buckets(ranks), pair.open_buckets()[1]])  # one pass for all
    values = pair.order_statistics(ranks)
    edges = interpolate_edges(values[: before.size], values[before.size :], gamma)
    below_ref, below_cur = pair.below(edges)
    e = np.diff(np.r_[0, below_ref, n_ref])
    a = np.diff(np.r_[0, below_cur, n_cur])
    edge_list = tuple(float(x) for x in edges)
    return SampleDrift(psi_from_counts(e, a), pair.ks(), None, n_ref, n_cur, *missing, edge_list)


def _with_p(result: SampleDrift) -> SampleDrift:
    if result.ks is None:
        return result
    from dataclasses import replace

    p = ks_p_value(result.ks, result.reference_rows, result.current_rows)
    return replace(result, ks_p=p)
