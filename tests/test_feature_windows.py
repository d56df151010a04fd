"""Point-in-time window features against a plain-Python reference, on generated histories."""

from __future__ import annotations

import calendar
import math
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import date, timedelta
from random import Random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.features.windows import (
    EventIndex,
    FeatureInputError,
    payment_history,
    window_starts,
    window_stats,
)

BASE = date(2023, 10, 15)  # generated days run across Feb 29 2024 and many month ends
SPAN = 420
RTOL, ATOL = 1e-9, 1e-12


@dataclass(frozen=True)
class Event:
    key: str
    day: date
    known: date | None
    billed: float
    paid: float
    days_late: float
    limit: float


# -- the reference: slow, obvious loops ------------------------------------------------


def months_back(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def counted(events: list[Event], key: str | None, as_of: date | None, months: int) -> list[Event]:
    if as_of is None or key is None:
        return []
    start = months_back(as_of, months)
    return [
        e for e in events if e.key == key and start <= e.day < as_of and (e.known or e.day) < as_of
    ]


def nan_mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def reference_payment(bills: list[Event], with_limit: bool) -> dict[str, float]:
    n = len(bills)
    lates = [b.days_late for b in bills if not math.isnan(b.days_late)]
    priced = [b for b in bills if not math.isnan(b.billed)]
    sum_billed = sum(b.billed for b in priced)
    sum_paid = sum(0.0 if math.isnan(b.paid) else b.paid for b in priced)
    out = {
        "n_bills": float(n),
        "on_time_ratio": sum(b.days_late == 0 for b in bills) / n if n else math.nan,
        "max_days_late": max(lates) if lates else math.nan,
        "mean_days_late": nan_mean(lates),
        "missed": float(
            sum(math.isnan(b.days_late) and (b.paid == 0 or math.isnan(b.paid)) for b in bills)
        ),
        "partial": float(sum(0 < b.paid < b.billed for b in bills)),
        "paid_ratio": sum_paid / sum_billed if sum_billed != 0 else math.nan,
        "amount_trend": trend([(b.day.year * 12 + b.day.month, b.billed) for b in priced]),
    }
    if with_limit:
        ratios = [b.billed / b.limit for b in priced if b.limit == b.limit and b.limit != 0]
        out["utilisation"] = nan_mean([r for r in ratios if math.isfinite(r)])
    return out


def trend(points: list[tuple[int, float]]) -> float:
    if len(points) < 2:
        return math.nan
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx / my if sxx > 0 and my != 0 else math.nan


def reference_stats(events: list[Event], wanted: dict[str, list[str]]) -> dict[str, float]:
    out = {"events": float(len(events))}
    for column, stats in wanted.items():
        values = [getattr(e, column) for e in events if not math.isnan(getattr(e, column))]
        figures = {
            "count": float(len(values)),
            "sum": sum(values) if values else math.nan,
            "mean": nan_mean(values),
            "max": max(values) if values else math.nan,
            "min": min(values) if values else math.nan,
        }
        out.update({f"{column}_{s}": figures[s] for s in stats})
    return out


# -- generated histories ---------------------------------------------------------------

KEYS = ("a", "b", "c", "d")
money = st.one_of(
    st.just(math.nan), st.integers(0, 500).map(float), st.floats(0.01, 1e4, allow_nan=False)
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    day = BASE + timedelta(days=draw(st.integers(0, SPAN)))
    known = draw(st.one_of(st.none(), st.integers(-10, 90).map(lambda d: day + timedelta(d))))
    billed = draw(money)
    kind = draw(st.sampled_from(["full", "partial", "none", "missing"]))
    paid = {
        "full": billed,
        "partial": billed / 2,
        "none": 0.0,
        "missing": math.nan,
    }[kind]
    late = draw(st.one_of(st.just(math.nan), st.just(0.0), st.integers(1, 60).map(float)))
    limit = draw(st.one_of(st.just(math.nan), st.just(0.0), st.floats(1.0, 5e3)))
    return Event(draw(st.sampled_from(KEYS)), day, known, billed, paid, late, limit)


as_of_days = st.one_of(
    st.integers(0, SPAN + 40).map(lambda d: BASE + timedelta(days=d)),
    st.sampled_from(
        [date(2024, 2, 29), date(2024, 3, 31), date(2024, 5, 31), date(2024, 3, 1), None]
    ),
)
queries = st.lists(
    st.tuples(st.sampled_from([*KEYS, "zz", None]), as_of_days), min_size=1, max_size=8
)
window_sets = st.sampled_from([(3, 6, 12), (1, 3), (6, 1, 2), (12,)])
Asked = list[tuple[str | None, date | None]]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Event], Asked]:
    """A history, and queries that often ask about one of its events' entity on (or a
    day off) that event's day or known day, or where a window would start on its
    day: where off-by-one errors live."""
    history = draw(st.lists(events(), max_size=40))
    anywhere = st.tuples(st.sampled_from([*KEYS, "zz", None]), as_of_days)
    if not history:
        return history, draw(st.lists(anywhere, min_size=1, max_size=8))
    edge = st.sampled_from(history).flatmap(
        lambda e: st.tuples(
            st.just(e.key),
            st.sampled_from(
                [e.day, e.known or e.day]
                + [(e.known or e.day) + timedelta(days=d) for d in (-1, 1)]
                + [months_back(e.day, -w) for w in (1, 2, 3, 6, 12)]
            ),
        )
    )
    return history, draw(st.lists(st.one_of(anywhere, edge, edge), min_size=1, max_size=8))


def build(history: list[Event], keys: str = "object") -> EventIndex:
    raw = [e.key for e in history]
    entity = pa.array(raw, pa.string()) if keys == "arrow" else np.array(raw, dtype=object)
    return EventIndex.build(
        entity,
        np.array([e.day for e in history], dtype="datetime64[D]"),
        np.array([e.known or "NaT" for e in history], dtype="datetime64[D]"),
        {
            "billed": np.array([e.billed for e in history]),
            "paid": np.array([e.paid for e in history]),
            "days_late": np.array([e.days_late for e in history]),
            "limit": np.array([e.limit for e in history]),
        },
    )


def query_arrays(asked: Asked) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array([k for k, _ in asked], dtype=object)
    days = np.array([d or "NaT" for _, d in asked], dtype="datetime64[D]")
    return keys, days


def assert_same(ours: dict[str, np.ndarray], expected: dict[str, list[float]]) -> None:
    assert list(ours) == list(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(
            ours[name], values, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=name
        )


# -- against the reference -------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(scenarios(), window_sets, st.booleans())
def test_payment_history_matches_reference(
    scenario: tuple[list[Event], Asked], windows: tuple[int, ...], with_limit: bool
) -> None:
    history, asked = scenario
    keys, as_of = query_arrays(asked)
    ours = payment_history(
        build(history), keys, as_of, windows, limit="limit" if with_limit else None
    )
    expected: dict[str, list[float]] = {}
    for w in windows:
        rows = [reference_payment(counted(history, k, d, w), with_limit) for k, d in asked]
        for stat in rows[0]:
            expected[f"pay_{stat}_{w}m"] = [r[stat] for r in rows]
    assert_same(ours, expected)


@settings(max_examples=50, deadline=None)
@given(scenarios(), window_sets)
def test_window_stats_matches_reference(
    scenario: tuple[list[Event], Asked], windows: tuple[int, ...]
) -> None:
    history, asked = scenario
    wanted = {"billed": ["sum", "mean", "count"], "days_late": ["max", "min"]}
    keys, as_of = query_arrays(asked)
    ours = window_stats(build(history), keys, as_of, windows, wanted)
    expected: dict[str, list[float]] = {}
    for w in windows:
        rows = [reference_stats(counted(history, k, d, w), wanted) for k, d in asked]
        for name in rows[0]:
            expected[f"{name}_{w}m"] = [r[name] for r in rows]
    assert_same(ours, expected)


@settings(max_examples=25, deadline=None)
@given(st.lists(events(), min_size=1, max_size=40), queries, st.randoms(use_true_random=False))
def test_event_order_and_key_container_do_not_matter(
    history: list[Event], asked: Asked, rnd: Random
) -> None:
    keys, as_of = query_arrays(asked)
    shuffled = list(history)
    rnd.shuffle(shuffled)
    first = payment_history(build(history), keys, as_of)
    again = payment_history(build(shuffled, keys="arrow"), pa.array(list(keys)), as_of)
    for name in first:
        np.testing.assert_allclose(again[name], first[name], rtol=RTOL, atol=ATOL, err_msg=name)


# -- point in time ---------------------------------------------------------------------


def seeded_history(customers: int = 300, months: int = 24) -> tuple[list[Event], list]:
    rng = np.random.default_rng(7)
    history = []
    asked = []
    for c in range(customers):
        key = f"C{c:04d}"
        first = date(2022, 1 + int(rng.integers(0, 12)), 1)
        for m in range(months):
            day = months_back(first, -m) + timedelta(days=int(rng.integers(0, 28)))
            missed = rng.random() < 0.05
            late = math.nan if missed else float(rng.integers(0, 3) * rng.integers(0, 20))
            billed = float(rng.integers(2000, 9000)) / 100
            paid = 0.0 if missed else billed * (0.5 if rng.random() < 0.05 else 1.0)
            known = None if missed else day + timedelta(days=10 + int(late))
            history.append(Event(key, day, known, billed, paid, late, 500.0))
        asked.append((key, months_back(first, -(months - int(rng.integers(1, 7))))))
    return history, asked


def test_a_planted_future_record_changes_no_feature() -> None:
    history, asked = seeded_history()
    keys, as_of = query_arrays(asked)
    before = payment_history(build(history), keys, as_of, limit="limit")
    key, day = asked[5]
    assert day is not None
    planted = [
        Event(key, day, None, 1e6, 0.0, math.nan, 1.0),  # on the as-of date itself
        Event(key, day + timedelta(days=3), None, 1e6, 0.0, math.nan, 1.0),  # after it
        Event(key, day - timedelta(days=20), day, 1e6, 1.0, 99.0, 1.0),  # known on it
        Event(key, day - timedelta(days=40), day + timedelta(days=1), 5.0, 5.0, 0.0, 1.0),
    ]
    for record in planted:
        after = payment_history(build([*history, record]), keys, as_of, limit="limit")
        for name in before:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    # the same record known the day before counts: the test above is not vacuous
    visible = replace(planted[2], known=day - timedelta(days=1))
    counted_now = payment_history(build([*history, visible]), keys, as_of)
    assert counted_now["pay_n_bills_3m"][5] == before["pay_n_bills_3m"][5] + 1


def test_windows_nest() -> None:
    history, asked = seeded_history()
    keys, as_of = query_arrays(asked)
    out = payment_history(build(history), keys, as_of, (12, 3, 6))
    assert (out["pay_n_bills_3m"] <= out["pay_n_bills_6m"]).all()
    assert (out["pay_n_bills_6m"] <= out["pay_n_bills_12m"]).all()
    assert (out["pay_missed_3m"] <= out["pay_missed_12m"]).all()
    assert (out["pay_n_bills_12m"] <= 12).all()  # monthly bills: a year at most
    assert (out["pay_n_bills_3m"] >= 1).all()


def test_no_history_is_not_a_perfect_history() -> None:
    history, _ = seeded_history(customers=3)
    keys = np.array(["C0000", "nobody", None], dtype=object)
    as_of = np.array(["2021-01-01", "2024-01-01", "2024-01-01"], dtype="datetime64[D]")
    out = payment_history(build(history), keys, as_of)
    for w in (3, 6, 12):
        assert list(out[f"pay_n_bills_{w}m"]) == [0, 0, 0]
        assert list(out[f"pay_missed_{w}m"]) == [0, 0, 0]
        for stat in ("on_time_ratio", "max_days_late", "paid_ratio", "amount_trend"):
            assert np.isnan(out[f"pay_{stat}_{w}m"]).all()


# -- calendar, keys, errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "months", "start"),
    [
        ("2024-03-31", 1, "2024-02-29"),
        ("2024-05-31", 3, "2024-02-29"),
        ("2023-03-31", 1, "2023-02-28"),
        ("2024-02-29", 12, "2023-02-28"),
        ("2024-01-15", 1, "2023-12-15"),
        ("2024-03-01", 1, "2024-02-01"),
        ("2024-12-31", 6, "2024-06-30"),
    ],
)
def test_window_starts_clamp_to_the_month_end(as_of: str, months: int, start: str) -> None:
    got = window_starts(np.array([as_of, "NaT"], dtype="datetime64[D]"), months)
    assert got[0] == np.datetime64(start).astype(np.int64)
    assert got[1] == np.iinfo(np.int64).min


def test_many_as_of_dates_take_the_table_path_and_agree() -> None:
    days = np.datetime64("2023-01-01") + np.arange(2000) % 800
    expected = [np.datetime64(months_back(d.item(), 5)).astype(np.int64) for d in days[:800]]
    assert list(window_starts(days, 5)[:800]) == expected


def test_key_containers_and_the_hashing_path_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.features import _keys

    history, asked = seeded_history(customers=40)
    keys, as_of = query_arrays(asked)
    expected = payment_history(build(history), keys, as_of)
    interleaved = sorted(history, key=lambda e: (e.day, e.key))  # one run per event
    monkeypatch.setattr(_keys, "HASH_FIRST", 0)
    index = build(interleaved, keys="arrow")
    sliced = pa.array(["x", *keys]).slice(1)  # an Arrow array with an offset
    chunked = pa.chunked_array([keys[:7].tolist(), keys[7:].tolist()])
    for probe in (sliced, chunked, keys.astype(str)):
        got = payment_history(index, probe, as_of)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, err_msg=name)
    assert list(index.lookup(pa.array([asked[3][0], None, "nobody"]))) == [3, -1, -1]
    assert not index.event_day.flags.writeable


def test_window_stats_without_columns_counts_events() -> None:
    history, asked = seeded_history(customers=5)
    keys, as_of = query_arrays(asked)
    out = window_stats(build(history), keys, as_of, (12, 3), {})
    assert list(out) == ["events_12m", "events_3m"]
    expected = payment_history(build(history), keys, as_of, (12, 3))
    np.testing.assert_array_equal(out["events_3m"], expected["pay_n_bills_3m"])


def test_integer_keys_numpy_or_arrow() -> None:
    day = np.array(["2024-01-10", "2024-02-10", "2024-01-20"], dtype="datetime64[D]")
    values = {"billed": np.array([1.0, 2.0, 4.0])}
    for keys in (np.array([7, 7, 3]), pa.array([7, 7, 3])):
        index = EventIndex.build(keys, day, None, values)
        assert list(index.keys) == [3, 7]
        assert index.n_entities == 2
        assert list(index.lookup(np.array([7, 3, 5]))) == [1, 0, -1]
        assert list(index.lookup(pa.array([7, None]))) == [1, -1]
        as_of = np.array(["2024-03-01"], "datetime64[D]")
        out = window_stats(index, np.array([7]), as_of, [3], {"billed": ["sum"]})
        assert list(out) == ["events_3m", "billed_sum_3m"]
        assert (out["events_3m"][0], out["billed_sum_3m"][0]) == (2.0, 3.0)


def test_bad_inputs_are_explained() -> None:
    day = np.array(["2024-01-10"], dtype="datetime64[D]")
    index = EventIndex.build(np.array(["a"]), day, None, {"billed": np.array([1.0])})
    keys, as_of = np.array(["a"]), np.array(["2024-02-01"], dtype="datetime64[D]")
    with pytest.raises(FeatureInputError, match="whole months"):
        window_stats(index, keys, as_of, (0, 3), {"billed": ["sum"]})
    with pytest.raises(FeatureInputError, match="whole months"):
        window_stats(index, keys, as_of, (1.5,), {"billed": ["sum"]})  # type: ignore[arg-type]
    with pytest.raises(FeatureInputError, match="must not repeat"):
        window_stats(index, keys, as_of, (3, 3), {"billed": ["sum"]})
    with pytest.raises(FeatureInputError, match="no column 'paid'"):
        payment_history(index, keys, as_of)
    with pytest.raises(FeatureInputError, match="distinct names among"):
        window_stats(index, keys, as_of, (3,), {"billed": ["median"]})
    with pytest.raises(FeatureInputError, match="datetime64"):
        window_stats(index, keys, np.array(["2024-02-01"]), (3,), {"billed": ["sum"]})
    with pytest.raises(FeatureInputError, match="integers or strings"):
        EventIndex.build(np.array([1.5]), day, None, {})
    with pytest.raises(FeatureInputError, match="like the history's"):
        index.lookup(np.array([1]))
    with pytest.raises(FeatureInputError, match="missing dates"):
        EventIndex.build(np.array(["a"]), np.array(["NaT"], "datetime64[D]"), None, {})
    with pytest.raises(FeatureInputError, match="numeric"):
        EventIndex.build(np.array(["a"]), day, None, {"billed": np.array(["x"])})


def test_importing_loads_no_numba_and_kernels_survive_an_unwritable_cache() -> None:
    code = (
        "import sys, appliance.features.windows\n"
        "assert 'numba' not in sys.modules, 'numba imported eagerly'\n"
        "from numba.core import caching\n"
        "caching.CacheImpl._locator_classes = []  # as if no cache dir were writable\n"
        "import numpy as np\n"
        "from appliance.features import _kernels\n"
        "order = _kernels.entity_order(np.array([1, -1, 0]), 2)\n"
        "assert list(order) == [1, 2, 0], order\n"
        "assert type(_kernels.entity_order._cache).__name__ == 'NullCache'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
