"""Cleaning, column by column, against values we can reason about."""

from __future__ import annotations

import math
import unicodedata
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ingest.cleaning import clean_batch
from appliance.ingest.schema import parse_schema


def _clean(columns: list[dict], values: dict[str, list], **top):  # type: ignore[no-untyped-def]
    schema = parse_schema({"name": "t", "columns": columns, **top})
    batch = pa.record_batch(
        {
            k: pa.array(
                [None if v is None else v.encode() if isinstance(v, str) else v for v in vs],
                pa.binary(),
            )
            for k, vs in values.items()
        }
    )
    typed, problems = clean_batch(batch, schema)
    invalid = problems.invalid_mask().to_pylist()
    _, reasons = problems.describe(pc.indices_nonzero(problems.invalid_mask()))
    return typed.to_pydict(), invalid, reasons


def _group(n: int, sep: str) -> str:
    text = str(n)
    parts = []
    while len(text) > 3:
        parts.insert(0, text[-3:])
        text = text[:-3]
    return sep.join([text, *parts])


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=99),
    st.booleans(),
)
def test_brazilian_amounts_parse_exactly(units: int, cents: int, negative: bool) -> None:
    text = ("-" if negative else "") + f"{_group(units, '.')},{cents:02d}"
    out, invalid, _ = _clean(
        [{"name": "a", "type": "float", "decimal": ",", "thousands": "."}], {"a": [text]}
    )
    expected = (units + cents / 100) * (-1 if negative else 1)
    assert invalid == [False]
    assert math.isclose(out["a"][0], expected, rel_tol=1e-12)


def test_misgrouped_and_garbled_numbers_are_rejected() -> None:
    values = ["1,234.56", "12,3x", "1.23,4", "", " 7 "]
    out, invalid, reasons = _clean(
        [{"name": "a", "type": "float", "decimal": ",", "thousands": "."}], {"a": values}
    )
    assert invalid == [True, True, True, False, False]
    assert out["a"][3:] == [None, 7.0]
    assert all("not a number" in r for r in reasons)


def test_infinite_numbers_are_rejected() -> None:
    _, invalid, reasons = _clean([{"name": "a", "type": "float"}], {"a": ["1e400", "1e3"]})
    assert invalid == [True, False] and "too large" in reasons[0]


def test_integers_refuse_fractions_and_overflow() -> None:
    values = ["42", "-7", "4.5", "99999999999999999999", "+5", "9223372036854775807"]
    out, invalid, reasons = _clean(
        [{"name": "n", "type": "int"}], {"n": [*values, "9223372036854775808"]}
    )
    assert invalid == [False, False, True, True, False, False, True]
    assert out["n"][:2] == [42, -7] and out["n"][4:6] == [5, 2**63 - 1]
    assert "too large for 64 bits" in reasons[-1]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**22), max_value=10**22), st.booleans(), st.booleans())
def test_any_integer_text_parses_exactly_or_is_a_named_problem(
    n: int, plus: bool, grouped: bool
) -> None:
    text = ("+" if plus and n >= 0 else "-" if n < 0 else "") + (
        _group(abs(n), ".") if grouped else str(abs(n))
    )
    out, invalid, reasons = _clean(
        [{"name": "n", "type": "int", "thousands": ".", "decimal": ","}], {"n": [text]}
    )
    if -(2**63) < n < 2**63:
        assert (invalid, out["n"]) == ([False], [n])
    else:
        assert invalid == [True] and "64 bits" in reasons[0]


def test_impossible_dates_are_rejected_not_rolled_over() -> None:
    out, invalid, reasons = _clean(
        [{"name": "d", "type": "date", "format": "%d/%m/%Y"}],
        {"d": ["31/01/2024", "31/02/2024", "1/3/2024", "29/02/2023", "29/02/2024", "2024-01-01"]},
    )
    assert invalid == [False, True, False, True, False, True]
    assert out["d"][0] == date(2024, 1, 31) and out["d"][2] == date(2024, 3, 1)
    assert "%d/%m/%Y" in reasons[0]


def test_timestamps_accept_iso_variants() -> None:
    out, invalid, _ = _clean(
        [{"name": "t", "type": "timestamp"}],
        {
            "t": [
                "2024-01-02T03:04:05Z",
                "2024-01-02 03:04",
                "2024-01-02",
                "2024-01-02T03:04:05.123",
                "soon",
            ]
        },
    )
    assert invalid == [False, False, False, False, True]
    assert [v.hour if v else None for v in out["t"]] == [3, 3, 0, 3, None]


def test_text_is_trimmed_normalised_and_checked_against_allowed_values() -> None:
    decomposed = unicodedata.normalize("NFD", "Alimentação")
    out, invalid, reasons = _clean(
        [{"name": "c", "type": "string", "allowed": ["Alimentação", "Serviços"]}],
        {"c": [f"  {decomposed} ", "Serviços", "Outros", "NA"]},
    )
    assert out["c"][0] == "Alimentação"
    assert invalid == [False, False, True, False]
    assert "allowed" in reasons[0]


def test_required_missing_and_booleans() -> None:
    out, invalid, reasons = _clean(
        [
            {
                "name": "b",
                "type": "bool",
                "required": True,
                "true_values": ["sim"],
                "false_values": ["não"],
            }
        ],
        {"b": ["SIM", "não", "", "talvez"]},
    )
    assert out["b"][:2] == [True, False]
    assert invalid == [False, False, True, True]
    assert "missing" in reasons[0] and "yes/no" in reasons[1]
    assert "missing" not in reasons[1]  # unreadable is not missing: one reason, not two


def test_dictionary_strings_expand_into_typed_columns() -> None:
    out, invalid, reasons = _clean(
        [
            {
                "name": "device",
                "type": "dict",
                "fields": [
                    {"name": "os", "type": "string", "allowed": ["android", "ios"]},
                    {
                        "name": "trusted",
                        "type": "bool",
                        "true_values": ["sim"],
                        "false_values": ["nao"],
                    },
                    {"name": "version", "type": "float"},
                ],
            }
        ],
        {
            "device": [
                "os:android;trusted:sim;version:5.2",
                " trusted : nao ; os:ios",
                "garbage",
                "",
                "os:symbian",
            ]
        },
    )
    assert out["device_os"][:2] == ["android", "ios"]
    assert out["device_trusted"][:2] == [True, False]
    assert out["device_version"][:2] == [5.2, None]
    assert invalid == [False, False, True, False, True]
    assert "key:value" in reasons[0] and "allowed" in reasons[1]


def test_ranges_patterns_and_lengths() -> None:
    _, invalid, reasons = _clean(
        [
            {"name": "x", "type": "float", "min": 0, "max": 10},
            {"name": "s", "type": "string", "pattern": "[A-Z]{2}", "max_length": 2},
            {"name": "d", "type": "date", "min": "2020-01-01"},
        ],
        {
            "x": ["5", "-1", "11", "5"],
            "s": ["BR", "BR", "BR", "bra"],
            "d": ["2021-01-01", "2021-01-01", "2019-12-31", "2021-01-01"],
        },
    )
    assert invalid == [False, True, True, True]
    assert "below the minimum 0" in reasons[0]
    assert "above the maximum 10" in reasons[1] and "below the minimum 2020-01-01" in reasons[1]
    assert "pattern" in reasons[2] and "longer than 2" in reasons[2]


def test_invalid_utf8_is_a_row_problem_not_a_crash() -> None:
    schema = parse_schema({"name": "t", "columns": [{"name": "s"}]})
    batch = pa.record_batch({"s": pa.array([b"ok", b"caf\xe9", b"\xc3\xa9"], pa.binary())})
    typed, problems = clean_batch(batch, schema)
    assert problems.invalid_mask().to_pylist() == [False, True, False]
    assert typed.column(0).to_pylist() == ["ok", None, "é"]


MESSY = [
    b"31/01/2024", b"31/02/2024", b"", b"1.234,56", b"12,3x", b"os:android;trusted:sim",
    b"garbage", " Serviços ".encode(), b"NA", b"sim", b"talvez", b"\xff", b"2024-01-02",
]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(MESSY), min_size=1, max_size=12), st.integers(0, 2**32 - 1))
def test_cleaning_distinct_values_once_matches_cleaning_every_row(
    values: list[bytes], seed: int
) -> None:
    """Repetitive columns take the dictionary path; it must agree with the row path."""
    import numpy as np

    from appliance.ingest import cleaning
    from appliance.ingest.problems import Problems

    os_field = {"name": "os"}
    trusted = {"name": "trusted", "type": "bool", "true_values": ["sim"], "false_values": ["não"]}
    schema = parse_schema(
        {
            "name": "t",
            "columns": [
                {"name": "d", "type": "date", "format": "%d/%m/%Y", "required": True},
                {"name": "a", "type": "float", "decimal": ",", "thousands": "."},
                {"name": "s", "allowed": ["Serviços"]},
                {**trusted, "name": "b"},
                {"name": "dev", "type": "dict", "fields": [os_field, trusted]},
            ],
        }
    )
    n = 4 * cleaning._SAMPLE
    picks = np.random.default_rng(seed).integers(0, len(values), n)
    raw = pa.array([values[i] for i in picks], pa.binary())
    batch = pa.record_batch({name: raw for name in ("d", "a", "s", "b", "dev")})
    assert cleaning._repeats_enough(raw)
    fast, fast_problems = clean_batch(batch, schema)
    slow_problems = Problems(n)
    slow = [
        array
        for col in schema.columns
        for array in cleaning._clean_column(batch.column(col.name), col, schema, slow_problems)
    ]
    assert fast.columns == slow
    invalid = fast_problems.invalid_mask()
    assert invalid == slow_problems.invalid_mask()
    rows = pc.indices_nonzero(invalid)
    assert fast_problems.describe(rows) == slow_problems.describe(rows)
