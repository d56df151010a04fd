"""Backtest: periods, verdicts against the test set, and the JSON shape."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from appliance.evaluation import MetricError, roc_auc, stability

Window = tuple[NDArray[np.datetime64], NDArray[np.int64], NDArray[np.float64]]


def _window(seed: int, n: int = 8000, days: int = 56, shift: float = 1.0) -> Window:
    """Eight weeks of scores whose outcomes follow them (AUC ~0.75); ``shift`` bends p."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01")  # a Monday
    dates = start + rng.integers(0, days, n).astype("timedelta64[D]")
    p = rng.beta(2, 5, n)
    y = (rng.random(n) < p).astype(np.int64)
    return dates, y, p**shift


def _reference(seed: int = 99) -> tuple[NDArray[np.float64], float]:
    _, y, p = _window(seed)
    return p, roc_auc(y, p)


def test_same_distribution_is_stable() -> None:
    ref_p, ref_auc = _reference()
    bt = stability(*_window(1), reference_p=ref_p, reference_auc=ref_auc)
    assert bt.verdict == "stable", bt.reasons
    assert len(bt.periods) == 8 and all(s.auc is not None for s in bt.periods)
    assert bt.psi is not None and bt.psi < 0.1
    assert bt.auc == pytest.approx(ref_auc, abs=0.05)
    assert any("PSI" in r for r in bt.reasons)


def test_shifted_scores_are_unstable() -> None:
    ref_p, ref_auc = _reference()
    bt = stability(*_window(2, shift=0.3), reference_p=ref_p, reference_auc=ref_auc)
    assert bt.verdict == "unstable"
    assert bt.psi is not None and bt.psi > 0.25
    assert any("shifted" in r for r in bt.reasons)


def test_mild_shift_is_watch() -> None:
    ref_p, _ = _reference()
    bt = stability(*_window(3, shift=0.85), reference_p=ref_p)
    assert bt.psi is not None and 0.1 < bt.psi <= 0.25, bt.psi
    assert bt.verdict == "watch"


def test_a_week_that_loses_its_ranking_power_is_named() -> None:
    ref_p, ref_auc = _reference()
    dates, y, p = _window(4)
    late = dates >= np.datetime64("2024-02-19")
    y[late] = np.random.default_rng(5).permutation(y[late])  # outcomes unrelated to scores
    bt = stability(dates, y, p, reference_p=ref_p, reference_auc=ref_auc)
    assert bt.verdict == "unstable"
    assert any(r.startswith("week of 2024-02-19: AUC") for r in bt.reasons)
    assert not any("2024-01-01" in r for r in bt.reasons)


def test_empty_window_has_no_verdict() -> None:
    empty = np.array([], dtype="datetime64[D]")
    bt = stability(empty, np.array([], dtype=int), np.array([]), reference_auc=0.7)
    assert bt.verdict == "none" and bt.periods == () and "no rows" in bt.reasons[0]
    json.dumps(bt.to_dict())


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    dates = np.array(["2024-01-03", "2024-03-31", "2024-04-01", "2023-12-31"], "datetime64[D]")
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4])
    weeks = stability(dates, y, p)
    assert [s.start for s in weeks.periods] == [
        "2023-12-25",
        "2024-01-01",
        "2024-03-25",
        "2024-04-01",
    ]
    months = stability(dates, y, p, period="month")
    assert [(s.start, s.n) for s in months.periods] == [
        ("2023-12-01", 1),
        ("2024-01-01", 1),
        ("2024-03-01", 1),
        ("2024-04-01", 1),
    ]


def test_small_or_one_class_periods_have_no_auc() -> None:
    dates, y, p = _window(6, n=1000)
    bt = stability(dates, y, p, min_rows=200, reference_auc=0.9)
    assert all(s.auc is None for s in bt.periods)  # ~125 rows a week
    assert bt.auc is not None
    assert bt.verdict == "stable" and any("enough rows" in r for r in bt.reasons)


def test_without_outcomes_only_drift_is_judged() -> None:
    ref_p, ref_auc = _reference()
    dates, _, p = _window(7, shift=0.3)
    bt = stability(dates, None, p, reference_p=ref_p, reference_auc=ref_auc)
    assert bt.auc is None and bt.positives is None
    assert all(s.positives is None and s.auc is None for s in bt.periods)
    assert bt.verdict == "unstable"


def test_period_quantiles() -> None:
    dates = np.full(101, np.datetime64("2024-05-06"))
    p = np.linspace(0, 1, 101)
    (week,) = stability(dates, np.arange(101) % 2, p).periods
    assert (week.p10, week.p50, week.p90, week.mean_p) == pytest.approx((0.1, 0.5, 0.9, 0.5))


def test_to_dict_is_json() -> None:
    ref_p, ref_auc = _reference()
    data = json.loads(
        json.dumps(stability(*_window(8), reference_p=ref_p, reference_auc=ref_auc).to_dict())
    )
    assert set(data) == {
        "period",
        "n",
        "positives",
        "auc",
        "psi",
        "reference_auc",
        "verdict",
        "reasons",
        "periods",
    }
    assert set(data["periods"][0]) == {
        "start",
        "n",
        "positives",
        "positive_rate",
        "auc",
        "mean_p",
        "p10",
        "p50",
        "p90",
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"period": "day"}, "period"),
        ({"psi_watch": 0.3, "psi_unstable": 0.2}, "psi_watch"),
        ({"auc_tolerance": -1.0}, "auc_tolerance"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], match: str) -> None:
    dates = np.array(["2024-01-01"], "datetime64[D]")
    with pytest.raises(MetricError, match=match):
        stability(dates, [1], [0.5], **kwargs)


def test_bad_dates_are_named() -> None:
    with pytest.raises(MetricError, match="NaT"):
        stability(np.array(["NaT"], "datetime64[D]"), [1], [0.5])
    with pytest.raises(MetricError, match="one value per row"):
        stability(np.array(["2024-01-01"], "datetime64[D]"), [1, 0], [0.5, 0.2])
