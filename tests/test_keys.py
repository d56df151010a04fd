from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ingest.keys import KeySet


@settings(deadline=None)  # the first call may compile the kernel
@given(
    st.lists(st.lists(st.tuples(st.text(max_size=6), st.integers(-5, 5)), max_size=40), max_size=6)
)
def test_keyset_agrees_with_a_python_set(batches: list[list[tuple[str, int]]]) -> None:
    keys = KeySet()
    seen: set[tuple[str, int]] = set()
    for batch in batches:
        text = pa.array([k for k, _ in batch], pa.string())
        ints = pa.array([n for _, n in batch], pa.int64())
        duplicate = keys.add([text, ints]).tolist()
        expected = []
        for key in batch:
            expected.append(key in seen)
            seen.add(key)
        assert duplicate == expected
    assert len(keys) == len(seen)


def test_sliced_arrays_hash_like_fresh_ones() -> None:
    keys = KeySet()
    keys.add([pa.array(["a", "b", "c", "d"]).slice(2)])
    assert keys.add([pa.array(["c", "d", "a"])]).tolist() == [True, True, False]


def test_dates_and_strings_with_the_same_text_are_distinct_columns() -> None:
    keys = KeySet()
    assert keys.add([pa.array(["ab", "a"]), pa.array(["c", "bc"])]).tolist() == [False, False]


def test_dates_and_timestamps_can_be_keys() -> None:
    import datetime as dt

    keys = KeySet()
    days = pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 1)])
    stamps = pa.array([dt.datetime(2024, 1, 1, 9)] * 3, pa.timestamp("us"))
    assert keys.add([pa.array(["a", "a", "a"]), days, stamps]).tolist() == [False, False, True]
