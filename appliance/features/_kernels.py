"""Compiled kernels behind ``appliance.features.windows``; only that module imports this one.

Events are grouped by entity (CSR ``offsets``) and sorted by event day within each
entity. For one query, every trailing window ends at the as-of date, so the windows
nest: a kernel finds the end of the history once (galloping back from its last
event), then walks backwards over the events, crossing the window starts from the
shortest window to the longest, and writes each window's figures as the walk passes
its start. One pass per query, whatever the number of windows; queries in parallel
(``prange``: 2.3 times faster than one thread on a 2-core machine). Calendar
arithmetic (the window starts, the month of a day) is done by the caller in numpy;
the kernels only compare and look up int64 day numbers. A known day of NaT (int64
min) is before every as-of date.

Compiled with ``cache=True``: the machine code is kept in ``__pycache__`` (or numba's
user-wide cache) and later processes skip compilation. Where neither place is
writable, the kernels are compiled in each process instead of failing at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np

__all__ = [
    "PAYMENT_STATS",
    "entity_order",
    "group_runs",
    "hash_lookup",
    "hash_table",
    "payment_history",
    "serial_when_small",
    "unsort_columns",
    "window_column",
]

PAYMENT_STATS = 9  # n_bills .. utilisation, as windows.PAYMENT_STATS
SMALL = 2048
"""Below this many queries the parallel kernels run on the calling thread alone: waking
the thread pool costs more than the work, and on a busy two-core box, where real-time
scoring runs beside other jobs, it cost 24 ms per applicant against 0.8 ms serial."""


@contextmanager
def serial_when_small(n: int) -> Iterator[None]:
    """Run the parallel kernels called inside on one thread when ``n`` is small (this
    thread only: numba's thread count is per calling thread)."""
    if n >= SMALL:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, nogil=True)``; without caching where no cache dir is writable.

    ``error_model="numpy"``: x / 0.0 is inf or NaN, as in numpy, not an exception.
    """

    def wrap(function: Callable[..., Any]) -> Any:
        settings = {"nogil": True, "error_model": "numpy", **options}
        try:
            return numba.njit(cache=True, **settings)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(**settings)(function)

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
def _lower_bound_from_end(days: np.ndarray, lo: int, hi: int, value: int) -> int:
    """As ``_lower_bound``, galloping back from ``hi`` first: as-of dates usually fall
    near the end of a history, so this takes a step or two where a bisection takes
    log2(events)."""
    step = 1
    while hi > lo:
        probe = max(lo, hi - step)
        if days[probe] < value:
            return _lower_bound(days, probe + 1, hi, value)
        hi = probe
        step *= 2
    return lo


@_jit()
def group_runs(
    run_codes: np.ndarray, run_lengths: np.ndarray, days: np.ndarray, n_groups: int
) -> tuple[Any, Any, bool]:
    """Order grouping events by entity, by day within an entity (stable); CSR offsets.

    Events come as runs of one entity code each (-1: no entity, left out). Returns
    ``(order, offsets, in_order)``; when the events already are in that order (each
    entity one run, runs in code order, days ascending), ``order`` is empty and nothing
    needs moving: the usual case, checked in one pass. Otherwise a counting sort of
    the runs by code, then a stable sort of any entity's events not in day order.
    """
    offsets = np.zeros(n_groups + 1, np.int64)
    in_order = True
    start = 0
    before = -1
    for r in range(run_codes.shape[0]):
        c, length = run_codes[r], run_lengths[r]
        if c >= 0:
            offsets[c + 1] += length
        if c <= before:
            in_order = False
        before = c
        if in_order:
            for i in range(start + 1, start + length):
                if days[i] < days[i - 1]:
                    in_order = False
                    break
        start += length
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    if in_order:
        return np.empty(0, np.int64), offsets, True
    fill = offsets[:-1].copy()
    order = np.empty(offsets[n_groups], np.int64)
    start = 0
    for r in range(run_codes.shape[0]):
        c, length = run_codes[r], run_lengths[r]
        if c >= 0:
            for i in range(length):
                order[fill[c] + i] = start + i
            fill[c] += length
        start += length
    for g in range(n_groups):
        lo, hi = offsets[g], offsets[g + 1]
        for i in range(lo + 1, hi):
            if days[order[i]] < days[order[i - 1]]:
                part = order[lo:hi].copy()
                order[lo:hi] = part[np.argsort(days[part], kind="mergesort")]
                break
    return order, offsets, False


@_jit(parallel=True)
def payment_history(
    offsets: np.ndarray,
    day: np.ndarray,
    known: np.ndarray,
    month_of: np.ndarray,
    first_day: int,
    billed: np.ndarray,
    paid: np.ndarray,
    late: np.ndarray,
    limit: np.ndarray,
    entity: np.ndarray,
    as_of: np.ndarray,
    starts: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out[w * k + stat, q]`` (``k`` stats per window, as in windows.PAYMENT_STATS).

    ``starts[w, q]`` is the first day of window ``w`` for query ``q``; windows are in
    ascending length. ``k`` is 9 with a credit ``limit`` column, else 8 (``limit``
    then unused). ``month_of[d - first_day]`` is the month number of day ``d``. The
    tallies are scalars (registers), not arrays: a third faster.
    """
    n_windows = starts.shape[0]
    k = out.shape[0] // n_windows
    has_limit = k == PAYMENT_STATS
    for q in numba.prange(entity.shape[0]):
        a = as_of[q]
        e = entity[q]
        first = offsets[e] if e >= 0 else 0
        i = _lower_bound_from_end(day, first, offsets[e + 1], a) - 1 if e >= 0 else -1
        n = on_time = n_late = missed = partial = n_util = 0
        max_late = sum_late = sum_paid = sum_billed = sum_util = 0.0
        fit = (0.0, 0.0, 0.0, 0.0, 0.0)  # bills with an amount, mean month, mean amount, Sxx, Sxy
        for w in range(n_windows):
            start = starts[w, q]
            while i >= first and day[i] >= start:
                if known[i] < a:
                    n += 1
                    d, p, b = late[i], paid[i], billed[i]
                    if d == 0:
                        on_time += 1
                    if d == d:
                        max_late = max(max_late, d) if n_late > 0 else d
                        n_late += 1
                        sum_late += d
                    elif p == 0 or p != p:
                        missed += 1
                    if p > 0 and p < b:
                        partial += 1
                    if b == b:
                        sum_billed += b
                        sum_paid += p if p == p else 0.0
                        fit = _fit(fit, month_of[day[i] - first_day], b)
                        u = b / limit[i] if has_limit else np.nan
                        if np.isfinite(u):
                            n_util += 1
                            sum_util += u
                i -= 1
            row = w * k
            out[row, q] = n
            out[row + 1, q] = _ratio(on_time, n)
            out[row + 2, q] = max_late if n_late > 0 else np.nan
            out[row + 3, q] = _ratio(sum_late, n_late)
            out[row + 4, q] = missed
            out[row + 5, q] = partial
            out[row + 6, q] = _ratio(sum_paid, sum_billed)
            out[row + 7, q] = _trend(fit)
            if has_limit:
                out[row + 8, q] = _ratio(sum_util, n_util)


@_jit()
def _ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom != 0 else np.nan


@_jit()
def _fit(fit: tuple, x: float, y: float) -> tuple:
    """Welford's update of (count, mean x, mean y, Sxx, Sxy) with the point (x, y)."""
    n, mx, my, sxx, sxy = fit
    n += 1.0
    dx = x - mx
    mx += dx / n
    my += (y - my) / n
    return n, mx, my, sxx + dx * (x - mx), sxy + dx * (y - my)


@_jit()
def _trend(fit: tuple) -> float:
    """OLS slope of y on x over the mean of y; NaN without two distinct x or a mean."""
    n, _, my, sxx, sxy = fit
    return sxy / sxx / my if n >= 2 and sxx > 0 and my != 0 else np.nan


@_jit(parallel=True)
def window_column(
    offsets: np.ndarray,
    day: np.ndarray,
    known: np.ndarray,
    values: np.ndarray,
    entity: np.ndarray,
    as_of: np.ndarray,
    starts: np.ndarray,
    targets: np.ndarray,
    out: np.ndarray,
) -> None:
    """Event count and stats of one value column, for every window and query.

    ``targets[w, 0]`` is the output row of window ``w``'s event count,
    ``targets[w, 1 + s]`` that of stat ``s`` (count, sum, mean, max, min of the
    non-missing values); -1 where not wanted. An empty ``values`` counts events only.
    """
    n_windows = starts.shape[0]
    nan = np.nan
    has_values = values.shape[0] > 0  # else only count events
    for q in numba.prange(entity.shape[0]):
        a = as_of[q]
        e = entity[q]
        first = offsets[e] if e >= 0 else 0
        i = _lower_bound_from_end(day, first, offsets[e + 1], a) - 1 if e >= 0 else -1
        events = 0
        count = 0
        total = high = low = 0.0
        for w in range(n_windows):
            start = starts[w, q]
            while i >= first and day[i] >= start:
                if known[i] < a:
                    events += 1
                    v = values[i] if has_values else nan
                    if v == v:
                        high = max(high, v) if count > 0 else v
                        low = min(low, v) if count > 0 else v
                        count += 1
                        total += v
                i -= 1
            seen = count > 0
            figures = (
                float(events),
                float(count),
                total if seen else nan,
                total / count if seen else nan,
                high if seen else nan,
                low if seen else nan,
            )
            for s in range(6):
                if targets[w, s] >= 0:
                    out[targets[w, s], q] = figures[s]


# -- string keys: an open-addressing hash table over Arrow string buffers --------------


@_jit()
def _hash(data: np.ndarray, lo: int, hi: int) -> np.uint64:
    """FNV-1a, 64 bits, of the bytes ``data[lo:hi]``."""
    h = np.uint64(14695981039346656037)
    for i in range(lo, hi):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    return h


@_jit()
def _same(a: np.ndarray, a_lo: int, a_hi: int, b: np.ndarray, b_lo: int, b_hi: int) -> bool:
    if a_hi - a_lo != b_hi - b_lo:
        return False
    for i in range(a_hi - a_lo):  # noqa: SIM110  (a plain loop compiles; all(<genexpr>) not)
        if a[a_lo + i] != b[b_lo + i]:
            return False
    return True


@_jit()
def hash_table(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Slots (a power of two, at least twice the strings) holding each unique string's
    position, -1 for empty, placed by hash with linear probing."""
    n = offsets.shape[0] - 1
    size = 2
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int64)
    for k in range(n):
        slot = _hash(data, offsets[k], offsets[k + 1]) & mask
        while table[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = k
    return table


@_jit(parallel=True)
def hash_lookup(
    table: np.ndarray,
    key_offsets: np.ndarray,
    key_data: np.ndarray,
    offsets: np.ndarray,
    data: np.ndarray,
    valid: np.ndarray,
    found: np.ndarray,
) -> None:
    """``found[p]``: the position of string ``p`` among the keys of ``table``, or -1 (also
    where ``valid[p]`` is false; an empty ``valid`` means all are)."""
    mask = np.uint64(table.shape[0] - 1)
    check = valid.shape[0] > 0
    for p in numba.prange(offsets.shape[0] - 1):
        found[p] = -1
        if check and not valid[p]:
            continue
        lo, hi = offsets[p], offsets[p + 1]
        slot = _hash(data, lo, hi) & mask
        while table[slot] != -1:
            k = table[slot]
            if _same(key_data, key_offsets[k], key_offsets[k + 1], data, lo, hi):
                found[p] = k
                break
            slot = (slot + np.uint64(1)) & mask


# -- queries in entity order ------------------------------------------------------------


@_jit()
def entity_order(entity: np.ndarray, n_entities: int) -> np.ndarray:
    """The queries sorted by entity (stable counting sort; unknown entities, -1, first).

    Run in this order, neighbouring queries read neighbouring events, which the CPU
    prefetches: the kernels run about twice as fast as in random order.
    """
    counts = np.zeros(n_entities + 2, np.int64)
    for e in entity:
        counts[e + 2] += 1
    for g in range(1, n_entities + 2):
        counts[g] += counts[g - 1]
    order = np.empty(entity.shape[0], np.int64)
    for q in range(entity.shape[0]):
        order[counts[entity[q] + 1]] = q
        counts[entity[q] + 1] += 1
    return order


@_jit(parallel=True)
def unsort_columns(out: np.ndarray, order: np.ndarray) -> None:
    """In place, ``out[:, order[j]] = out[:, j]`` (as it was): queries back in the callers'
    order, one row per task, with one row of scratch."""
    for row in numba.prange(out.shape[0]):
        in_entity_order = out[row].copy()
        for j in range(order.shape[0]):
            out[row, order[j]] = in_entity_order[j]
