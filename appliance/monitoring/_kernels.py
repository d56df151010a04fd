"""Compiled passes over sorted samples, behind ``appliance.monitoring.samples``.

Sorting dominates two-sample drift, and numpy's sort is the fastest there is here, so
the callers sort with numpy and these kernels make one linear pass over the sorted
arrays: the Kolmogorov-Smirnov merge walk. Compiled with ``cache=True`` (the machine
code is kept beside the module, so later processes skip the seconds of compilation)
and ``nogil=True`` (several columns run at once on threads). Where no cache directory
is writable the kernel is compiled in each process instead of failing at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["ks_sorted"]


def _jit(function: Callable[..., Any]) -> Any:
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(function)


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
