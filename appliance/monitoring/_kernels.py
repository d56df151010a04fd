"""Compiled passes behind ``appliance.monitoring.buckets`` and ``samples``.

Two-sample drift needs the samples' order, not a full sort: the callers split each
sample's value range into many buckets (a monotone map, equal values always share a
bucket), count them in one pass, and only the few buckets the exact answer depends on
are gathered and sorted. Compiled with ``cache=True`` (the machine code is kept beside
the module, so later processes skip the seconds of compilation) and ``nogil=True``
(several columns run at once on threads). Where no cache directory is writable the
kernels are compiled in each process instead of failing at import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["bucket_counts", "bucket_of", "gather_buckets", "ks_buckets", "ks_sorted"]


def _jit(function: Callable[..., Any]) -> Any:
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(function)


@_jit
def _bucket(x: float, lo: float, hi: float, scale: float, first: np.ndarray,
            width: np.ndarray, nb: int) -> int:  # fmt: skip
    """The bucket of a finite ``x``: 0 below ``lo``, ``nb - 1`` from ``hi`` on; in
    between, cell ``c`` of a linear grid, then ``width[c]`` linear buckets from
    ``first[c]`` on. Non-decreasing in ``x`` whatever the rounding: every step is, and
    the cell's part ``u - c`` is exact. (One return: LLVM optimises the callers' loops
    several times better than with early returns.)"""
    if x < lo:
        b = 0
    elif x >= hi:
        b = nb - 1
    else:
        u = (x - lo) * scale
        if not u < first.size:  # rounding at the top, or NaN from an overflowing span
            b = nb - 2
        else:
            c = int(u)
            w = width[c]
            inner = int((u - c) * w)
            if inner >= w:
                inner = int(w) - 1
            b = first[c] + inner
    return b


@_jit
def bucket_of(values: np.ndarray, lo: float, hi: float, scale: float, first: np.ndarray,
              width: np.ndarray, nb: int, out: np.ndarray) -> None:  # fmt: skip
    """``out[k]``: the bucket of the finite ``values[k]``."""
    for k in range(values.size):
        out[k] = _bucket(values[k], lo, hi, scale, first, width, nb)


@_jit
def bucket_counts(values: np.ndarray, lo: float, hi: float, scale: float, first: np.ndarray,
                  width: np.ndarray, counts: np.ndarray) -> int:  # fmt: skip
    """Add each finite value's bucket to ``counts``; returns how many were finite."""
    nb = counts.size
    finite = 0
    for k in range(values.size):
        x = values[k]
        if math.isfinite(x):
            counts[_bucket(x, lo, hi, scale, first, width, nb)] += 1
            finite += 1
    return finite


@_jit
def gather_buckets(values: np.ndarray, lo: float, hi: float, scale: float, first: np.ndarray,
                   width: np.ndarray, slot: np.ndarray, starts: np.ndarray,
                   out: np.ndarray) -> None:  # fmt: skip
    """Copy the finite values whose bucket ``b`` has ``slot[b] >= 0`` into
    ``out[starts[slot[b]]:starts[slot[b] + 1]]``, then sort each such segment (one
    holding a single value, common in imputed or binned features, needs no sort)."""
    nb = slot.size
    fill = starts[:-1].copy()
    for k in range(values.size):
        x = values[k]
        if math.isfinite(x):
            s = slot[_bucket(x, lo, hi, scale, first, width, nb)]
            if s >= 0:
                out[fill[s]] = x
                fill[s] += 1
    for s in range(starts.size - 1):
        segment = out[starts[s] : starts[s + 1]]
        ordered = True
        for k in range(1, segment.size):
            if segment[k] < segment[k - 1]:
                ordered = False
                break
        if not ordered:
            segment.sort()


@_jit
def ks_buckets(a: np.ndarray, a_starts: np.ndarray, a_before: np.ndarray, na: int,
               b: np.ndarray, b_starts: np.ndarray, b_before: np.ndarray, nb: int,
               d: float) -> float:  # fmt: skip
    """The largest CDF gap inside the gathered buckets, at least ``d``.

    Segment ``s`` of ``a`` and of ``b`` hold the same bucket, sorted; ``a_before[s]``
    and ``b_before[s]`` count each sample's values in lower buckets. The gap is taken
    right after every distinct value, with the same arithmetic as :func:`ks_sorted`."""
    for s in range(a_starts.size - 1):
        i, i_end = a_starts[s], a_starts[s + 1]
        j, j_end = b_starts[s], b_starts[s + 1]
        i_off = a_before[s] - i
        j_off = b_before[s] - j
        while i < i_end or j < j_end:
            x = a[i] if j >= j_end or (i < i_end and a[i] <= b[j]) else b[j]
            while i < i_end and a[i] <= x:
                i += 1
            while j < j_end and b[j] <= x:
                j += 1
            gap = abs((i + i_off) / na - (j + j_off) / nb)
            if gap > d:
                d = gap
    return d


@_jit
def ks_sorted(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> float:
    """Largest gap between the empirical CDFs of ``a[:na]`` and ``b[:nb]`` (both sorted
    ascending, both non-empty): the two-sample KS statistic, evaluated right after every
    distinct value exactly as ``scipy.stats.ks_2samp`` does."""
    i = 0
    j = 0
    d = 0.0
    while i < na and j < nb:
        x = a[i] if a[i] <= b[j] else b[j]
        while i < na and a[i] <= x:
            i += 1
        while j < nb and b[j] <= x:
            j += 1
        gap = abs(i / na - j / nb)
        if gap > d:
            d = gap
    return d
