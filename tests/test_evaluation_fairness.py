"""Fairness report: four-fifths rule, equal opportunity, small groups, JSON shape."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from appliance.evaluation import FairnessReport, MetricError, confusion, fairness_report


def _credit(
    approved: dict[str, tuple[int, int]], bad_share: float = 0.0
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.object_]]:
    """Rows per group: (n, how many approved); approved rows score 0.1, declined 0.9.

    With ``bad_share`` 0 every row is a good payer (y = 0).
    """
    labels, scores, y = [], [], []
    for group, (n, ok) in approved.items():
        labels += [group] * n
        scores += [0.1] * ok + [0.9] * (n - ok)
        y += [0] * n
    y_arr = np.array(y)
    y_arr[: int(bad_share * len(y))] = 1
    return y_arr, np.array(scores), np.array(labels, dtype=object)


def test_half_the_approval_rate_fails_four_fifths() -> None:
    y, p, g = _credit({"F": (100, 40), "M": (100, 80)})
    report = fairness_report(y, p, 0.5, {"gender": g})
    gender = report.attributes[0]
    assert gender.disparate_impact_ratio == pytest.approx(0.5)
    assert not gender.four_fifths_pass and not gender.passed and not report.passed
    assert {s.group: s.favourable_rate for s in gender.groups} == {"F": 0.4, "M": 0.8}
    assert any("disparate impact 0.50" in note for note in gender.notes)


def test_equal_rates_pass() -> None:
    y, p, g = _credit({"F": (100, 70), "M": (200, 140)})
    report = fairness_report(y, p, 0.5, {"gender": g})
    assert report.attributes[0].disparate_impact_ratio == 1.0
    assert report.attributes[0].equal_opportunity_difference == 0.0
    assert report.passed


def test_a_tiny_group_is_reported_but_excluded() -> None:
    y, p, g = _credit({"F": (100, 70), "M": (100, 75), "X": (5, 0)})
    attr = fairness_report(y, p, 0.5, {"gender": g}, min_group_size=30).attributes[0]
    tiny = next(s for s in attr.groups if s.group == "X")
    assert tiny.n == 5 and not tiny.eligible and tiny.favourable_rate == 0.0
    assert attr.four_fifths_pass and attr.passed
    assert any("'X' has 5 rows" in note for note in attr.notes)


def test_one_eligible_group_is_not_assessable() -> None:
    y, p, g = _credit({"F": (100, 70), "M": (10, 0)})
    attr = fairness_report(y, p, 0.5, {"gender": g}).attributes[0]
    assert not attr.assessable and attr.passed and attr.disparate_impact_ratio is None
    assert any("not assessable" in note for note in attr.notes)


def test_equal_opportunity_compares_approval_among_good_payers() -> None:
    # Both groups approved at 50%, but A approves all its good payers and B only half.
    y = np.array([0] * 50 + [1] * 50 + [0] * 100)
    p = np.array([0.1] * 50 + [0.9] * 50 + [0.1] * 50 + [0.9] * 50)
    g = np.array(["A"] * 100 + ["B"] * 100)
    attr = fairness_report(y, p, 0.5, {"segment": g}).attributes[0]
    assert attr.four_fifths_pass and attr.disparate_impact_ratio == 1.0
    assert attr.equal_opportunity_difference == pytest.approx(0.5)
    assert not attr.eo_pass and not attr.passed
    a = attr.groups[0]
    assert (a.deserving_n, a.deserving_favourable_rate, a.tpr, a.fpr) == (50, 1.0, 1.0, 0.0)


def test_flagged_is_favourable_for_propensity_models() -> None:
    # offers (flags) go to 60% of A and 20% of B; responders (y=1) are the deserving rows
    y = np.array([1, 0] * 50 + [1, 0] * 50)
    p = np.array([0.9] * 60 + [0.1] * 40 + [0.9] * 20 + [0.1] * 80)
    g = np.array(["A"] * 100 + ["B"] * 100)
    attr = fairness_report(y, p, 0.5, {"region": g}, favourable="flagged").attributes[0]
    rates = {s.group: s.favourable_rate for s in attr.groups}
    assert rates == {"A": pytest.approx(0.6), "B": pytest.approx(0.2)}
    assert attr.disparate_impact_ratio == pytest.approx(1 / 3)
    for s in attr.groups:
        assert s.deserving_favourable_rate == s.tpr


def test_missing_labels_form_their_own_group() -> None:
    y = np.zeros(6, dtype=int)
    p = np.full(6, 0.1)
    groups = {
        "objects": np.array(["a", None, "a", float("nan"), "", "b"], dtype=object),
        "floats": np.array([1.0, np.nan, 1.0, 2.0, np.nan, 2.0]),
    }
    report = fairness_report(y, p, 0.5, groups, min_group_size=1)
    by_attr = {a.attribute: {s.group: s.n for s in a.groups} for a in report.attributes}
    assert by_attr == {
        "objects": {"a": 2, "b": 1, "missing": 3},
        "floats": {"1.0": 2, "2.0": 2, "missing": 2},
    }


def test_to_dict_is_json() -> None:
    y, p, g = _credit({"F": (100, 40), "M": (100, 80), "X": (3, 3)}, bad_share=0.1)
    report = fairness_report(y, p, 0.5, {"gender": g, "age_band": np.array(["a"] * 203)})
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "favourable",
        "threshold",
        "min_group_size",
        "di_floor",
        "eo_tolerance",
        "attributes",
        "passed",
    }
    gender = data["attributes"][0]
    assert set(gender) == {
        "attribute",
        "groups",
        "assessable",
        "disparate_impact_ratio",
        "four_fifths_pass",
        "equal_opportunity_difference",
        "eo_pass",
        "passed",
        "notes",
    }
    assert set(gender["groups"][0]) == {
        "group",
        "n",
        "eligible",
        "favourable_rate",
        "deserving_n",
        "deserving_favourable_rate",
        "tpr",
        "fpr",
    }
    assert data["attributes"][1]["assessable"] is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"favourable": "approved"}, "favourable"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"di_floor": 1.5}, "di_floor"),
        ({"eo_tolerance": -0.1}, "eo_tolerance"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(MetricError, match=match):
        fairness_report([0, 1], [0.1, 0.9], 0.5, {"g": np.array(["a", "b"])}, **kwargs)


def test_group_labels_must_cover_every_row() -> None:
    with pytest.raises(MetricError, match="'gender' needs one label per row"):
        fairness_report([0, 1], [0.1, 0.9], 0.5, {"gender": np.array(["a"])})


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 300), st.floats(0.05, 0.95))
def test_group_rates_agree_with_confusion_on_each_subset(seed: int, n: int, t: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = rng.random(n)
    g = rng.choice(np.array(["a", "b", "c"]), n)
    report: FairnessReport = fairness_report(y, p, t, {"g": g}, min_group_size=10)
    for s in report.attributes[0].groups:
        mask = g == s.group
        c = confusion(y[mask], p[mask], t)
        assert s.n == mask.sum() and s.favourable_rate == pytest.approx(c.approval_rate)
        assert s.tpr == (pytest.approx(c.recall) if c.tp + c.fn else None)
        assert s.fpr == (pytest.approx(c.fpr) if c.fp + c.tn else None)
        good = mask & (y == 0)
        expected = np.mean(p[good] < t) if good.any() else None
        assert s.deserving_favourable_rate == pytest.approx(expected)
