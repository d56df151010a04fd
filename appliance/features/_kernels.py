"""Compiled kernels behind ``appliance.features.windows``; only that module imports this one.

Events arrive grouped by entity (CSR ``offsets``) and sorted by event day within each
entity. For one query, every trailing window ends at the as-of date, so the windows
nest: the kernels find the end of the history once, then walk backwards over the
events, crossing the window starts from the shortest window to the longest, and write
each window's figures as the walk passes its start. One pass per query, whatever the
number of windows. Calendar arithmetic (the window starts) is done by the caller in
numpy; the kernels only compare int64 day numbers.

Compiled with ``cache=True``, so the machine code is kept in ``__pycache__`` (or
numba's user-wide cache) and later processes skip compilation. Where neither place is
writable, the kernels are compiled in each process instead of failing at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["PAYMENT_STATS", "STATS", "group_order", "payment_history", "window_stats"]

PAYMENT_STATS = (
    "n_bills",
    "on_time_ratio",
    "max_days_late",
    "mean_days_late",
    "missed",
    "partial",
    "paid_ratio",
    "amount_trend",
    "utilisation",
)
STATS = ("count", "sum", "mean", "max", "min")


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, nogil=True)``; without caching where no cache dir is writable."""

    def wrap(function: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(nogil=True, **options)(function)

    return wrap


@_jit()
def _lower_bound(days: np.ndarray, lo: int, hi: int, value: int) -> int:
    """First position in ``days[lo:hi]`` (sorted) whose day is >= ``value``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if days[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit()
def group_order(codes: np.ndarray, days: np.ndarray, n_groups: int) -> tuple[Any, Any, bool]:
    """Stable order grouping events by entity code, by day within an entity; offsets.

    Returns ``(order, offsets, in_order)``; when the events already are in that order
    (``in_order``), ``order`` is empty and nothing needs moving. Otherwise a counting
    sort by code (linear), then a stable sort of any entity's slice that is not in day
    order. Events with code -1 (no entity) are left out.
    """
    n = codes.shape[0]
    offsets = np.zeros(n_groups + 1, np.int64)
    in_order = True
    for i in range(n):
        c = codes[i]
        if c >= 0:
            offsets[c + 1] += 1
        if in_order and i > 0:
            before = codes[i - 1]
            in_order = c > before or (c == before and days[i] >= days[i - 1])
        in_order = in_order and c >= 0
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    if in_order:
        return np.empty(0, np.int64), offsets, True
    fill = offsets[:-1].copy()
    order = np.empty(offsets[n_groups], np.int64)
    for i in range(n):
        c = codes[i]
        if c >= 0:
            order[fill[c]] = i
            fill[c] += 1
    for g in range(n_groups):
        lo, hi = offsets[g], offsets[g + 1]
        for i in range(lo + 1, hi):
            if days[order[i]] < days[order[i - 1]]:
                part = order[lo:hi].copy()
                within = np.argsort(days[part], kind="mergesort")
                order[lo:hi] = part[within]
                break
    return order, offsets, False


@_jit()
def _write_payment(
    out: np.ndarray,
    row: int,
    q: int,
    n: int,
    on_time: int,
    n_late: int,
    max_late: float,
    sum_late: float,
    missed: int,
    partial: int,
    sum_paid: float,
    sum_billed: float,
    fit: np.ndarray,
    n_util: int,
    sum_util: float,
    has_limit: bool,
) -> None:
    nan = np.nan
    out[row, q] = n
    out[row + 1, q] = on_time / n if n > 0 else nan
    out[row + 2, q] = max_late if n_late > 0 else nan
    out[row + 3, q] = sum_late / n_late if n_late > 0 else nan
    out[row + 4, q] = missed
    out[row + 5, q] = partial
    out[row + 6, q] = sum_paid / sum_billed if sum_billed != 0 else nan
    # fit = (bills with an amount, mean month, mean amount, Sxx, Sxy)
    trend = nan
    if fit[0] >= 2 and fit[3] > 0 and fit[2] != 0:
        trend = fit[4] / fit[3] / fit[2]
    out[row + 7, q] = trend
    if has_limit:
        out[row + 8, q] = sum_util / n_util if n_util > 0 else nan


@_jit(parallel=True)
def payment_history(
    offsets: np.ndarray,
    day: np.ndarray,
    known: np.ndarray,
    month: np.ndarray,
    billed: np.ndarray,
    paid: np.ndarray,
    late: np.ndarray,
    limit: np.ndarray,
    entity: np.ndarray,
    as_of: np.ndarray,
    starts: np.ndarray,
    by_entity: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out[w * k + stat, q]`` (``k`` stats per window, as in PAYMENT_STATS).

    ``starts[w, q]`` is the first day of window ``w`` for query ``q``; windows are in
    ascending length. ``limit`` is empty when there is no credit limit column. Queries
    are taken in ``by_entity`` order, so that consecutive queries read nearby events.
    """
    n_windows = starts.shape[0]
    k = out.shape[0] // n_windows
    has_limit = limit.shape[0] > 0
    for j in numba.prange(entity.shape[0]):
        q = by_entity[j]
        a = as_of[q]
        e = entity[q]
        first = offsets[e] if e >= 0 else 0
        i = _lower_bound(day, first, offsets[e + 1], a) - 1 if e >= 0 else -1
        n = on_time = n_late = missed = partial = n_util = 0
        max_late = sum_late = sum_paid = sum_billed = sum_util = 0.0
        fit = np.zeros(5)
        for w in range(n_windows):
            lo = _lower_bound(day, first, i + 1, starts[w, q]) if e >= 0 else 0
            while i >= lo:
                if known[i] < a:
                    n += 1
                    d = late[i]
                    if d == 0:
                        on_time += 1
                    if d == d:
                        n_late += 1
                        sum_late += d
                        max_late = max(max_late, d) if n_late > 1 else d
                    p, b = paid[i], billed[i]
                    if d != d and (p == 0 or p != p):
                        missed += 1
                    if p > 0 and p < b:
                        partial += 1
                    if b == b:
                        sum_billed += b
                        if p == p:
                            sum_paid += p
                        # Welford's update of the amount-on-month regression
                        fit[0] += 1
                        dx = month[i] - fit[1]
                        fit[1] += dx / fit[0]
                        fit[2] += (b - fit[2]) / fit[0]
                        fit[3] += dx * (month[i] - fit[1])
                        fit[4] += dx * (b - fit[2])
                        if has_limit:
                            u = b / limit[i]
                            if np.isfinite(u):
                                n_util += 1
                                sum_util += u
                i -= 1
            _write_payment(
                out, w * k, q, n, on_time, n_late, max_late, sum_late, missed, partial,
                sum_paid, sum_billed, fit, n_util, sum_util, has_limit,
            )  # fmt: skip


@_jit(parallel=True)
def window_stats(
    offsets: np.ndarray,
    day: np.ndarray,
    known: np.ndarray,
    values: np.ndarray,
    rows: np.ndarray,
    targets: np.ndarray,
    entity: np.ndarray,
    as_of: np.ndarray,
    starts: np.ndarray,
    by_entity: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill the requested stats of ``values[rows[c]]`` for every window and query.

    ``targets[w, 0, 0]`` is the output row of window ``w``'s event count;
    ``targets[w, 1 + c, s]`` the row of stat ``s`` (as in STATS) of column ``c``, -1
    where not requested.
    """
    n_windows = starts.shape[0]
    n_cols = rows.shape[0]
    nan = np.nan
    for j in numba.prange(entity.shape[0]):
        q = by_entity[j]
        a = as_of[q]
        e = entity[q]
        first = offsets[e] if e >= 0 else 0
        i = _lower_bound(day, first, offsets[e + 1], a) - 1 if e >= 0 else -1
        events = 0
        acc = np.zeros((4, n_cols))  # count, sum, max, min
        for w in range(n_windows):
            lo = _lower_bound(day, first, i + 1, starts[w, q]) if e >= 0 else 0
            while i >= lo:
                if known[i] < a:
                    events += 1
                    for c in range(n_cols):
                        v = values[rows[c], i]
                        if v == v:
                            if acc[0, c] == 0:
                                acc[2, c] = v
                                acc[3, c] = v
                            else:
                                acc[2, c] = max(acc[2, c], v)
                                acc[3, c] = min(acc[3, c], v)
                            acc[0, c] += 1
                            acc[1, c] += v
                i -= 1
            out[targets[w, 0, 0], q] = events
            for c in range(n_cols):
                seen = acc[0, c] > 0
                figures = (
                    acc[0, c],
                    acc[1, c] if seen else nan,
                    acc[1, c] / acc[0, c] if seen else nan,
                    acc[2, c] if seen else nan,
                    acc[3, c] if seen else nan,
                )
                for s in range(5):
                    row = targets[w, 1 + c, s]
                    if row >= 0:
                        out[row, q] = figures[s]
