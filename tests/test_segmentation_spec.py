"""The [segmentation] table of a use-case spec: what parses, and every refusal named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import SchemaError
from appliance.segmentation.spec import MAX_SEGMENTS, parse_segmentation
from appliance.usecase.parse import load_spec, parse_spec

DEFAULT = Path(__file__).parents[1] / "appliance/defaults/usecases/insurance_propensity.toml"
ORIGIN = "usecases/insurance_propensity.toml"


def spec_with(block: Any) -> Any:
    raw = dict(load_spec(DEFAULT).raw)
    if block is None:
        raw.pop("segmentation", None)
    else:
        raw["segmentation"] = block
    return parse_spec(raw, origin=ORIGIN)


def test_the_shipped_bancassurance_spec_declares_a_range_of_segments() -> None:
    seg = parse_segmentation(load_spec(DEFAULT))
    assert (seg.k_min, seg.k_max) == (3, 6)
    assert seg.ks == (3, 4, 5, 6) and seg.is_range
    assert seg.scaling == "standard"
    assert "tenure_months" in seg.features and len(seg.features) == len(set(seg.features))


def test_a_fixed_number_and_the_optional_keys() -> None:
    seg = parse_segmentation(spec_with({
        "features": ["a", "b"], "segments": 5, "scaling": "robust", "sample": 300, "seed": 0,
        "models": ["insurance_premium"],
    }))  # fmt: skip
    assert (seg.k_min, seg.k_max, seg.is_range) == (5, 5, False)
    assert (seg.scaling, seg.sample, seg.seed, seg.models) == (
        "robust",
        300,
        0,
        ("insurance_premium",),
    )
    assert seg.to_dict()["segments"] == [5, 5]


@pytest.mark.parametrize(
    ("block", "key", "words"),
    [
        (None, "[segmentation]", "declares no [segmentation]"),
        ("yes", "segmentation", "must be a table"),
        (
            {"features": ["a"], "segments": 3, "colour": "x"},
            "segmentation",
            "unknown field(s) colour",
        ),
        ({"segments": 3}, "segmentation.features", "list of strings"),
        ({"features": [], "segments": 3}, "segmentation.features", "at least one"),
        ({"features": ["a", "a"], "segments": 3}, "segmentation.features", "'a' is listed twice"),
        ({"features": ["a b"], "segments": 3}, "segmentation.features", "not a valid name"),
        ({"features": ["a"]}, "segmentation.segments", "a number of segments"),
        ({"features": ["a"], "segments": [8, 3]}, "segmentation.segments", "inverted"),
        ({"features": ["a"], "segments": []}, "segmentation.segments", "range [low, high]"),
        ({"features": ["a"], "segments": [3]}, "segmentation.segments", "range [low, high]"),
        ({"features": ["a"], "segments": 1}, "segmentation.segments", "at least 2"),
        ({"features": ["a"], "segments": [1, 4]}, "segmentation.segments", "at least 2"),
        ({"features": ["a"], "segments": True}, "segmentation.segments", "a number of segments"),
        ({"features": ["a"], "segments": 2.5}, "segmentation.segments", "a number of segments"),
        (
            {"features": ["a"], "segments": [3, 99]},
            "segmentation.segments",
            f"at most {MAX_SEGMENTS}",
        ),
        (
            {"features": ["a"], "segments": 3, "scaling": "minmax"},
            "segmentation.scaling",
            "'minmax'",
        ),
        ({"features": ["a"], "segments": 3, "sample": 10}, "segmentation.sample", "at least 100"),
        ({"features": ["a"], "segments": 3, "seed": -1}, "segmentation.seed", "integer >= 0"),
        (
            {"features": ["a"], "segments": 3, "models": "m"},
            "segmentation.models",
            "list of strings",
        ),
    ],
)
def test_bad_blocks_are_refused_naming_the_file_and_the_key(
    block: Any, key: str, words: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_segmentation(spec_with(block))
    message = str(caught.value)
    assert message.startswith(ORIGIN)
    assert key in message and words in message


_values = st.one_of(
    st.integers(-5, 80), st.booleans(), st.floats(allow_nan=True), st.text(max_size=4),
    st.lists(st.one_of(st.integers(-5, 80), st.text(max_size=2)), max_size=3),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(segments=_values, scaling=st.sampled_from(["standard", "robust", "none", "z", 3]))
def test_any_segments_value_parses_consistently_or_is_refused_by_name(
    segments: Any, scaling: Any
) -> None:
    spec = spec_with({"features": ["tenure_months"], "segments": segments, "scaling": scaling})
    try:
        seg = parse_segmentation(spec)
    except SchemaError as exc:
        assert str(exc).startswith(ORIGIN)
        assert "segmentation.segments" in str(exc) or "segmentation.scaling" in str(exc)
        return
    assert 2 <= seg.k_min <= seg.k_max <= MAX_SEGMENTS
    assert seg.ks == tuple(range(seg.k_min, seg.k_max + 1))
    expected = [segments] * 2 if isinstance(segments, int) else segments
    assert [seg.k_min, seg.k_max] == expected
    assert seg.scaling == scaling
