"""Point-in-time aggregates of event histories over trailing calendar-month windows.

An :class:`EventIndex` holds one history (bills, transactions, interactions) grouped
by entity and sorted by event day, built once. :func:`payment_history` and
:func:`window_stats` then answer, for each query (an entity key and an as-of date),
aggregates over the ``W`` months before the as-of date, for several ``W`` at once.

Point in time: an event counts for a query only if its event day AND its known day
(when its facts became known, e.g. a bill's paid date; missing means the event day)
are both strictly before the as-of date. Window ``W`` holds the events with
``as_of - W months <= event day < as_of``, where ``as_of - W months`` is the same day
of the month ``W`` calendar months earlier, clamped to that month's end
(2024-03-31 minus 1 month is 2024-02-29).

No history is not a perfect history: a query with no event in a window (or an
unknown entity, or a missing as-of date) gets zero counts and NaN for every ratio,
mean, extreme, sum and trend.

Choosing the known day is the caller's point-in-time decision. For bills, the paid
date is right for paid bills; for a bill never paid, a missing known day makes it
count (as missed) from its bill date, while the same bill paid after the as-of date
would not count at all, so whether it counts depends on the future. Where that
matters, give unpaid bills the day their non-payment became known (the due date plus
a grace period, say) rather than NaT.

Query keys are numpy or pyarrow arrays of the same kind (integers or strings) as the
history's keys; as-of dates are datetime64 (NaT allowed).

numpy does the calendar arithmetic and the key lookups; the per-query work runs in
compiled kernels (``_kernels``, numba), loaded on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from appliance.errors import ApplianceError

__all__ = [
    "PAYMENT_STATS",
    "WINDOW_STATS",
    "EventIndex",
    "FeatureInputError",
    "payment_history",
    "window_starts",
    "window_stats",
]

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
WINDOW_STATS = ("count", "sum", "mean", "max", "min")
_NAT = np.iinfo(np.int64).min  # datetime64("NaT") as int64


class FeatureInputError(ApplianceError, ValueError):
    """Inputs to a feature computation have the wrong type, shape or names."""

    exit_code = 4
    http_status = 422


@dataclass(frozen=True, eq=False)
class EventIndex:
    """One event history, grouped by entity and sorted by event day within each.

    Build it with :meth:`EventIndex.build`. Its arrays are read-only; where the input
    was already in order and of the right dtype they are views of the input arrays
    (no copy), which must then not be modified either.
    """

    keys: Any
    """Sorted unique entity keys, entity ``e`` being ``keys[e]``: an int64 numpy array,
    or for string keys a pyarrow string array (``keys.to_numpy(zero_copy_only=False)``
    gives them as Python strings)."""
    offsets: np.ndarray
    """int64, ``len(keys) + 1``: entity ``e``'s events are ``offsets[e]:offsets[e + 1]``."""
    event_day: np.ndarray
    """int64 days since 1970-01-01, ascending within each entity."""
    known_day: np.ndarray
    """int64 day the event's facts became known; int64 min (NaT) for "on the event day"."""
    values: Mapping[str, np.ndarray]
    """float64 value columns in event order, C-contiguous; NaN is missing."""
    first_day: int
    """The earliest event day (0 when there are no events)."""
    month_of: np.ndarray
    """int32 month number (months since 1970-01) of day ``first_day + i``, for every
    day up to the latest event: the x of amount trends, looked up by the kernels."""
    key_table: np.ndarray | None = field(default=None, repr=False)
    """String keys: a hash table of their positions, built once for :meth:`lookup`."""

    @classmethod
    def build(
        cls,
        entity_keys: Any,
        event_day: np.ndarray,
        known_day: np.ndarray | None,
        values: Mapping[str, np.ndarray],
    ) -> EventIndex:
        """Group and sort events once; events with a missing entity key are left out.

        ``entity_keys`` are integers or strings: a numpy array (an object array may
        hold None) or a pyarrow array (as read from the lake, used without a copy);
        ``event_day`` and ``known_day`` datetime64 (any unit, truncated to days;
        ``known_day`` NaT, or None for all, means "known on the event day"); ``values``
        numeric columns of the same length (float64 is used as is, others converted).
        Events usually arrive grouped by entity and in date order, and are then used
        where they are; any order works, with a copy.
        """
        from appliance.features import _kernels, _keys

        n = len(event_day)
        day = _days(event_day, "event_day", n)
        if n and day.min() == _NAT:
            raise FeatureInputError(
                f"event_day has {int((day == _NAT).sum())} missing dates: "
                "drop those events or fill their dates before building the index"
            )
        known = day if known_day is None else _days(known_day, "known_day", n)
        columns = {name: _floats(column, name, n) for name, column in values.items()}
        encoded = _keys.encode(entity_keys)
        if int(encoded.run_lengths.sum()) != n:
            raise FeatureInputError(
                f"{int(encoded.run_lengths.sum())} entity keys for {n} event days"
            )
        order, offsets, in_order = _kernels.group_runs(
            encoded.run_codes, encoded.run_lengths, day, len(encoded.keys)
        )
        if not in_order:
            day, known = day[order], known[order]
            columns = {name: column[order] for name, column in columns.items()}
        first_day, month_of = _month_table(day)
        return cls(
            keys=encoded.keys,
            offsets=offsets,
            event_day=_read_only(day),
            known_day=_read_only(known),
            values={name: _read_only(column) for name, column in columns.items()},
            first_day=first_day,
            month_of=month_of,
            key_table=encoded.table,
        )

    @property
    def n_events(self) -> int:
        return int(self.event_day.shape[0])

    @property
    def n_entities(self) -> int:
        return len(self.keys)

    def column(self, name: str) -> np.ndarray:
        """One value column, in event order."""
        if name not in self.values:
            raise FeatureInputError(
                f"the event index has no column {name!r} (it has {', '.join(self.values)}): "
                "build it with that column among its values"
            )
        return self.values[name]

    def lookup(self, keys: Any) -> np.ndarray:
        """Entity index of each key (int64), -1 for unknown or missing keys.

        ``keys`` as for :meth:`build` (numpy or pyarrow), of the same kind (integers
        or strings) as the index's keys.
        """
        from appliance.features import _keys

        return _keys.lookup(self.keys, self.key_table, keys)


def window_starts(as_of: np.ndarray, months: int) -> np.ndarray:
    """First day (int64 days) of the ``months``-month window before each as-of date.

    The same day of the month ``months`` months earlier, clamped to that month's last
    day. NaT stays NaT (as int64 min).
    """
    days = _days(as_of, "as_of", len(as_of))
    return _window_starts(days, months)


def payment_history(
    index: EventIndex,
    query_keys: Any,
    as_of: np.ndarray,
    windows: Sequence[int] = (3, 6, 12),
    *,
    billed: str = "billed",
    paid: str = "paid",
    days_late: str = "days_late",
    limit: str | None = None,
) -> dict[str, np.ndarray]:
    """Payment behaviour over trailing windows: ``pay_{stat}_{W}m`` float64 columns.

    Per window, over the bills that count (see the module docstring): ``n_bills``;
    ``on_time_ratio`` (bills with days late 0 / bills); ``max_days_late`` and
    ``mean_days_late`` (over bills with a days-late value); ``missed`` (no days late,
    and paid 0 or missing); ``partial`` (0 < paid < billed); ``paid_ratio`` (sum paid /
    sum billed, missing paid counted as 0); ``amount_trend`` (OLS slope of the billed
    amount on the bill's month, divided by the mean billed amount; needs bills in two
    different months); with ``limit``, ``utilisation`` (mean billed / limit over the
    bills where that ratio is finite). Bills with a missing billed amount count in
    ``n_bills`` but not in the sums or the trend.
    """
    from appliance.features import _kernels

    columns = [index.column(c) for c in (billed, paid, days_late)]
    credit = index.column(limit) if limit else np.empty(0)
    stats = PAYMENT_STATS if limit else PAYMENT_STATS[:-1]
    plan = _Queries.make(index, query_keys, as_of, windows)
    out = plan.run(
        partial(
            _kernels.payment_history,
            index.offsets, index.event_day, index.known_day, index.month_of, index.first_day,
            *columns, credit, plan.entity, plan.as_of, plan.starts,
        ),
        len(windows) * len(stats),
    )  # fmt: skip
    return {
        f"pay_{stat}_{w}m": out[rank * len(stats) + s]
        for w, rank in zip(windows, plan.rank, strict=True)
        for s, stat in enumerate(stats)
    }


def window_stats(
    index: EventIndex,
    query_keys: Any,
    as_of: np.ndarray,
    windows: Sequence[int],
    columns: Mapping[str, Sequence[str]],
) -> dict[str, np.ndarray]:
    """Trailing-window aggregates: ``events_{W}m`` and ``{column}_{stat}_{W}m`` (float64).

    ``columns`` maps a value column to its stats among ``count`` (non-missing values),
    ``sum``, ``mean``, ``max`` and ``min``. Missing values are skipped; a window with
    no value gets count 0 and NaN for the others (sum included, as in SQL: "no
    transactions" is not "transactions summing to 0"; ``events_{W}m`` tells them apart).
    """
    from appliance.features import _kernels

    wanted = {name: _stat_names(name, stats) for name, stats in columns.items()}
    passes = [(name, index.column(name)) for name in wanted] or [("", np.empty(0))]
    plan = _Queries.make(index, query_keys, as_of, windows)
    targets = {name: np.full((len(windows), 6), -1, np.int64) for name, _ in passes}
    names: list[str] = []
    for w, rank in zip(windows, plan.rank, strict=True):
        targets[passes[0][0]][rank, 0] = len(names)  # the first pass also counts events
        names.append(f"events_{w}m")
        for name, stats in wanted.items():
            for stat in stats:
                targets[name][rank, 1 + WINDOW_STATS.index(stat)] = len(names)
                names.append(f"{name}_{stat}_{w}m")

    def run_passes(out: np.ndarray) -> None:
        for name, values in passes:  # no column: a pass that only counts events
            _kernels.window_column(
                index.offsets, index.event_day, index.known_day, values,
                plan.entity, plan.as_of, plan.starts, targets[name], out,
            )  # fmt: skip

    out = plan.run(run_passes, len(names))
    return {name: out[row] for row, name in enumerate(names)}


# -- queries ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Queries:
    """The queries as the kernels take them: sorted by entity (see ``run``)."""

    entity: np.ndarray  # int64 entity per query, -1 unknown
    as_of: np.ndarray  # int64 days
    starts: np.ndarray  # int64 (windows, queries): first day, windows by ascending length
    rank: list[int]  # each requested window's row in ``starts``
    order: np.ndarray  # the original position of each (sorted) query

    @property
    def n(self) -> int:
        return int(self.entity.shape[0])

    @classmethod
    def make(
        cls, index: EventIndex, keys: Any, as_of: np.ndarray, windows: Sequence[int]
    ) -> _Queries:
        from appliance.features import _kernels

        months = _windows(windows)
        day = _days(as_of, "as_of", len(keys))
        entity = index.lookup(keys)
        order = _kernels.entity_order(entity, index.n_entities)
        day = day[order]
        ascending = sorted(months)
        starts = np.empty((len(months), len(day)), np.int64)
        for row, w in enumerate(ascending):
            starts[row] = _window_starts(day, w)
        return cls(entity[order], day, starts, [ascending.index(w) for w in months], order)

    def run(self, kernel: Callable[[np.ndarray], None], rows: int) -> np.ndarray:
        """``kernel(out)`` fills ``rows`` features for the sorted queries; returned in
        the callers' order."""
        from appliance.features import _kernels

        out = np.empty((rows, self.n), np.float64)
        with _kernels.serial_when_small(self.n):
            kernel(out)
            _kernels.unsort_columns(out, self.order)
        return out


def _windows(windows: Sequence[int]) -> list[int]:
    months = [int(w) for w in windows]
    if not months or any(w < 1 or w != v for w, v in zip(months, windows, strict=True)):
        raise FeatureInputError(f"windows must be whole months > 0, e.g. (3, 6, 12); got {windows}")
    if len(set(months)) != len(months):
        raise FeatureInputError(f"windows must not repeat; got {windows}")
    return months


def _stat_names(column: str, stats: Sequence[str]) -> list[str]:
    wanted = [stats] if isinstance(stats, str) else list(stats)
    unknown = [s for s in wanted if s not in WINDOW_STATS]
    if unknown or len(set(wanted)) != len(wanted):
        raise FeatureInputError(
            f"stats for {column!r} must be distinct names among {', '.join(WINDOW_STATS)}; "
            f"got {', '.join(map(str, wanted))}"
        )
    return wanted


# -- calendar (numpy, before the kernels) ------------------------------------------------


def _days(dates: Any, name: str, n: int) -> np.ndarray:
    """datetime64 of any unit as int64 days (NaT as int64 min); a view for datetime64[D]."""
    array = np.asarray(dates)
    if array.dtype.kind != "M" or array.shape != (n,):
        raise FeatureInputError(
            f"{name} must be a one-dimensional datetime64 array of {n} dates; "
            f"got {array.dtype} with shape {array.shape}"
        )
    return array.astype("datetime64[D]", copy=False).view(np.int64)


def _months_back(days: np.ndarray, months: int) -> np.ndarray:
    """Valid int64 days minus ``months`` calendar months, clamped to the month's end."""
    day = days.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    offset = (day - month.astype("datetime64[D]")).astype(np.int64)
    target = month - np.timedelta64(months, "M")
    first = target.astype("datetime64[D]").astype(np.int64)
    length = (target + 1).astype("datetime64[D]").astype(np.int64) - first
    return first + np.minimum(offset, length - 1)


def _month_table(days: np.ndarray) -> tuple[int, np.ndarray]:
    """The first day, and the month number of every day from it to the last day."""
    if len(days) == 0:
        return 0, np.zeros(1, np.int32)
    first, last = int(days.min()), int(days.max())
    span = np.arange(first, last + 1, dtype=np.int64).astype("datetime64[D]")
    return first, span.astype("datetime64[M]").astype(np.int32)


def _window_starts(days: np.ndarray, months: int) -> np.ndarray:
    """``_months_back(days, months)``, computed once per calendar day of their range when
    that is cheaper (numpy's calendar conversions cost ~10 ns a value; a million as-of
    dates span a few hundred days). NaT gives NaT (int64 min)."""
    valid = days != _NAT
    out = np.full(days.shape, _NAT, np.int64)
    if not valid.any():
        return out
    some = days if valid.all() else days[valid]
    low, high = int(some.min()), int(some.max())
    if high - low < len(days) // 4:
        table = _months_back(np.arange(low, high + 1, dtype=np.int64), months)
        np.take(table, np.clip(days - low, 0, high - low), out=out)
        out[~valid] = _NAT
    else:
        out[valid] = _months_back(days[valid], months)
    return out


# -- values ----------------------------------------------------------------------------


def _floats(column: Any, name: str, n: int) -> np.ndarray:
    array = np.asarray(column)
    if array.dtype.kind not in "biuf" or array.shape != (n,):
        raise FeatureInputError(
            f"value column {name!r} must be a one-dimensional numeric array of {n} values; "
            f"got {array.dtype} with shape {array.shape}"
        )
    return np.ascontiguousarray(array, dtype=np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
