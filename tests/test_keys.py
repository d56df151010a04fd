from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from appliance.ingest.keys import KeySet


@given(
    st.lists(st.lists(st.tuples(st.text(max_size=6), st.integers(-5, 5)), max_size=40), max_size=6)
)
def test_keyset_agrees_with_a_python_set(batches: list[list[tuple[str, int]]]) -> None:
    keys = KeySet(capacity=2)  # tiny, so the table grows many times
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
