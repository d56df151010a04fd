"""Use-case specs: every shipped spec parses; each mistake is refused naming the field."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from appliance.errors import SchemaError
from appliance.usecase.parse import parse_spec
from appliance.usecase.spec import (
    ColumnFeature,
    PaymentHistoryFeature,
    UseCaseSpec,
    WindowStatsFeature,
)

MINIMAL: dict[str, Any] = {
    "name": "german_credit",
    "population": {"dataset": "german", "id": "id", "target": "bad"},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    data = {**MINIMAL, "population": dict(MINIMAL["population"])}
    data.update(changes)
    return data


def shipped() -> list[tuple[str, dict[str, Any]]]:
    folder = resources.files("appliance.defaults").joinpath("usecases")
    return [
        (item.name, tomllib.loads(item.read_text("utf-8")))
        for item in folder.iterdir()
        if item.name.endswith(".toml")
    ]


@pytest.mark.parametrize(("name", "data"), shipped(), ids=[n for n, _ in shipped()])
def test_every_shipped_spec_parses(name: str, data: dict[str, Any]) -> None:
    spec = parse_spec(data, origin=name)
    assert isinstance(spec, UseCaseSpec)
    assert spec.features and not spec.auto_features
    assert spec.protected or spec.name == "card_fraud"


def test_minimal_spec_for_an_unseen_csv_uses_auto_features_and_a_random_split() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.auto_features
    assert spec.split.policy == "random"
    assert spec.threshold.policy == "max_fbeta"
    assert spec.model_name == "german_credit"


def test_feature_builders_parse_with_their_parameters() -> None:
    spec = parse_spec(
        spec_with(
            population={**MINIMAL["population"], "entity": "cust", "time": "day"},
            tables=[{"name": "c", "dataset": "customers", "key": "cust"}],
            histories=[{"name": "bills", "dataset": "b", "key": "cust", "time": "m"}],
            features=[
                {"column": "amount", "clip": [0.01, 0.99], "log": True, "bins": 5},
                {"column": "c.income"},
                {"builder": "payment_history", "history": "bills", "windows": [12, 3],
                 "billed": "x", "paid": "y", "days_late": "z"},
                {"builder": "window_stats", "history": "bills", "windows": [6],
                 "stats": {"x": ["sum", "max"]}},
            ],
        )
    )  # fmt: skip
    first, second, third, fourth = spec.features
    assert isinstance(first, ColumnFeature) and first.clip == (0.01, 0.99) and first.bins == 5
    assert isinstance(second, ColumnFeature) and str(second.column) == "c.income"
    assert isinstance(third, PaymentHistoryFeature) and third.windows == (3, 12)
    assert isinstance(fourth, WindowStatsFeature) and fourth.stats == (("x", ("sum", "max")),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": [{"column": "sex"}], "protected": [{"column": "sex"}]},
         "protected attribute"),
        ({"features": [{"column": "bad"}]}, "uses the target"),
        ({"features": [{"column": "x.y"}]}, "no [[tables]] named 'x'"),
        ({"features": [{"builder": "magic"}]}, "features[0].builder"),
        ({"threshold": {"policy": "precision_at_recall"}}, "threshold.recall_floor"),
        ({"threshold": {"policy": "approval_rate", "approval_rate": 1.5}},
         "threshold.approval_rate"),
        ({"split": {"policy": "time"}}, "population.time"),
        ({"split": {"validation": 0.5, "test": 0.4}}, "at least 20 %"),
        ({"training": {"metric": "accuracy"}}, "training.metric"),
        ({"histories": [{"name": "h", "dataset": "d", "key": "k"}]}, "point-in-time"),
        ({"surprise": 1}, "unknown field(s) surprise"),
        ({"features": [{"column": "a"}, {"column": "a"}]}, "'a' is declared twice"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_spec(spec_with(**changes), origin="spec.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("spec.toml: ")


def test_a_window_reaching_past_the_decision_date_is_refused_as_a_leak() -> None:
    data = spec_with(
        population={**MINIMAL["population"], "entity": "c", "time": "d"},
        histories=[{"name": "h", "dataset": "d", "key": "c", "time": "m"}],
        features=[{"builder": "window_stats", "history": "h", "windows": [-3]}],
    )
    with pytest.raises(SchemaError, match="leak data from after"):
        parse_spec(data)
