"""Metrics, lift and business numbers against scikit-learn and hand-checked cases."""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sklearn import metrics as sk

import appliance.evaluation as ev
from appliance.errors import ApplianceError
from appliance.evaluation import (
    MetricError,
    brier,
    business_metrics,
    calibration_table,
    decile_table,
    ks,
    lift_table,
    log_loss,
    pr_auc,
    pr_curve,
    psi,
    roc_auc,
    roc_curve,
    summary,
)

Pair = tuple[NDArray[np.int64], NDArray[np.float64]]


@st.composite
def labelled_scores(draw: st.DrawFn, max_rows: int = 300) -> Pair:
    """Both classes present; scores with heavy ties or none; balance from 50/50 to 1 in n."""
    n = draw(st.integers(2, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(st.sampled_from([2, 5, 20, 0]))  # 0: continuous scores
    rate = draw(st.sampled_from([0.5, 0.2, 0.03, 0.0]))  # 0.0: exactly one positive
    rng = np.random.default_rng(seed)
    p = rng.random(n) if levels == 0 else rng.integers(0, levels + 1, n) / levels
    y = (rng.random(n) < rate).astype(np.int64)
    y[rng.choice(n, 2, replace=False)] = [1, 0]
    return y, p


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(labelled_scores())
def test_roc_auc_matches_sklearn(pair: Pair) -> None:
    y, p = pair
    assert roc_auc(y, p) == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12)


@PROPERTY
@given(labelled_scores())
def test_average_precision_matches_sklearn(pair: Pair) -> None:
    y, p = pair
    assert pr_auc(y, p) == pytest.approx(sk.average_precision_score(y, p), abs=1e-12)


@PROPERTY
@given(labelled_scores(), st.booleans())
def test_roc_curve_matches_sklearn(pair: Pair, drop: bool) -> None:
    y, p = pair
    ours = roc_curve(y, p, drop_intermediate=drop)
    theirs = sk.roc_curve(y, p, drop_intermediate=drop)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@PROPERTY
@given(labelled_scores())
def test_pr_curve_matches_sklearn(pair: Pair) -> None:
    y, p = pair
    ours = pr_curve(y, p)
    theirs = sk.precision_recall_curve(y, p, drop_intermediate=False)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@PROPERTY
@given(labelled_scores())
def test_ks_is_the_largest_roc_gap(pair: Pair) -> None:
    y, p = pair
    fpr, tpr, _ = sk.roc_curve(y, p, drop_intermediate=False)
    assert ks(y, p) == pytest.approx(np.max(np.abs(tpr - fpr)), abs=1e-12)


@PROPERTY
@given(labelled_scores())
def test_log_loss_and_brier_match_sklearn(pair: Pair) -> None:
    y, p = pair
    probs = 0.01 + 0.98 * p  # away from 0 and 1, where clipping conventions differ
    assert log_loss(y, probs) == pytest.approx(sk.log_loss(y, probs), rel=1e-10)
    assert brier(y, probs) == pytest.approx(sk.brier_score_loss(y, probs), rel=1e-10)


def test_log_loss_clips_certain_mistakes() -> None:
    assert log_loss([1, 0], [0.0, 1.0], eps=1e-15) == pytest.approx(-np.log(1e-15), rel=1e-3)


def test_ks_by_hand() -> None:
    # threshold 0.6 flags both positives and one of three negatives: TPR 1, FPR 1/3
    y = [1, 1, 0, 0, 0]
    p = [0.9, 0.6, 0.7, 0.2, 0.1]
    assert ks(y, p) == pytest.approx(2 / 3)
    assert roc_auc(y, p) == pytest.approx(5 / 6)


def test_auc_gives_ties_half_credit() -> None:
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 0, 1, 0], [0.3, 0.3, 0.9, 0.1]) == pytest.approx(0.875)


@pytest.mark.parametrize("metric", [roc_auc, pr_auc, ks, roc_curve, pr_curve, summary])
@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1]])
def test_one_class_is_a_clear_error(metric: Callable[..., object], y: list[int]) -> None:
    with pytest.raises(MetricError, match="only one class"):
        metric(y, [0.1, 0.5, 0.9])


def test_metric_error_is_a_value_error_and_an_appliance_error() -> None:
    assert issubclass(MetricError, ValueError)
    assert issubclass(MetricError, ApplianceError)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, float("nan")], "missing or infinite"),
        ([0, 1, 1], [0.1, 0.2], "one value per row"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        (["a", "b"], [0.1, 0.2], "0/1 labels"),
    ],
)
def test_bad_inputs_are_named(y: Any, p: Any, match: str) -> None:
    with pytest.raises(MetricError, match=match):
        roc_auc(y, p)


def test_probability_metrics_reject_scores_outside_0_1() -> None:
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        brier([0, 1], [0.2, 1.5])


def test_roc_auc_is_fast_on_a_million_rows() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1_000_000)
    p = np.round(rng.random(1_000_000), 3)
    start = time.perf_counter()
    roc_auc(y, p)
    assert time.perf_counter() - start < 5.0  # ~0.15 s; catches an accidental O(n^2)


def test_psi_identical_is_zero_and_shift_is_large() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(20_000)
    assert psi(base, base) == pytest.approx(0.0, abs=1e-12)
    assert psi(base, rng.random(20_000)) < 0.01
    assert psi(base, base**3) > 0.25


def test_psi_floors_empty_bins() -> None:
    value = psi(np.arange(100.0), np.full(50, 1000.0))
    assert np.isfinite(value) and value > 1


def test_calibration_table_bins_by_quantile_and_keeps_ties_together() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    rows = calibration_table(y, p, bins=10)
    assert [r["n"] for r in rows] == [100] * 10
    assert all(r["low"] <= r["mean_predicted"] <= r["high"] for r in rows)
    assert all(a["high"] < b["low"] for a, b in pairwise(rows))
    tied = calibration_table([0, 1, 0, 1, 0, 1], [0.1, 0.2, 0.2, 0.2, 0.2, 0.9], bins=3)
    assert [(r["n"], r["low"], r["high"]) for r in tied] == [(1, 0.1, 0.1), (5, 0.2, 0.9)]
    assert tied[1]["observed_rate"] == pytest.approx(0.6)


def test_summary_keys() -> None:
    out = summary([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6])
    assert set(out) == {
        "roc_auc",
        "pr_auc",
        "ks",
        "log_loss",
        "brier",
        "n",
        "positives",
        "positive_rate",
    }
    assert out["roc_auc"] == 1.0 and out["n"] == 4 and out["positive_rate"] == 0.5


# --- lift --------------------------------------------------------------------------------


def test_lift_and_capture_by_hand() -> None:
    y = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    p = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    rows = {r["share"]: r for r in lift_table(y, p, buckets=(0.1, 0.2, 0.5, 1.0))}
    assert rows[0.1]["rows"] == 1 and rows[0.1]["positives"] == 1
    assert rows[0.1]["lift"] == pytest.approx(1 / 0.3)
    assert rows[0.1]["capture_rate"] == pytest.approx(1 / 3)
    assert rows[0.2]["capture_rate"] == pytest.approx(2 / 3)
    assert rows[0.5]["rate"] == pytest.approx(0.6) and rows[0.5]["lift"] == pytest.approx(2.0)
    assert rows[0.5]["capture_rate"] == 1.0 and rows[0.5]["min_p"] == 0.6
    assert rows[1.0]["lift"] == pytest.approx(1.0)


def test_lift_breaks_ties_by_row_order() -> None:
    first = lift_table([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], buckets=(0.25,))
    last = lift_table([0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5], buckets=(0.25,))
    assert first[0]["positives"] == 1 and last[0]["positives"] == 0


def test_lift_needs_a_positive_and_sane_buckets() -> None:
    with pytest.raises(MetricError, match="positive"):
        lift_table([0, 0], [0.1, 0.2])
    with pytest.raises(MetricError, match="buckets"):
        lift_table([0, 1], [0.1, 0.2], buckets=(0.0, 1.5))


def test_decile_table_is_per_bucket_and_sums_up() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(1003)
    y = (rng.random(1003) < p).astype(int)
    rows = decile_table(y, p)
    assert [r["bucket"] for r in rows] == list(range(1, 11))
    assert sum(r["n"] for r in rows) == 1003 and sum(r["positives"] for r in rows) == y.sum()
    assert rows[0]["mean_p"] > rows[-1]["mean_p"] and rows[0]["lift"] > 1 > rows[-1]["lift"]


# --- business ----------------------------------------------------------------------------


def test_business_metrics_with_and_without_outcomes() -> None:
    y = [0, 0, 1, 1]
    p = [0.1, 0.3, 0.4, 0.8]
    out = business_metrics(y, p, threshold=0.35)
    assert out["approved"] == 2 and out["declined"] == 2 and out["approval_rate"] == 0.5
    assert out["observed_bad_rate_approved"] == 0.0
    assert out["expected_bad_rate_approved"] == pytest.approx(0.2)
    assert out["observed_bad_rate_declined"] == 1.0 and out["overall_bad_rate"] == 0.5
    blind = business_metrics(None, p, threshold=0.35)
    assert blind["observed_bad_rate_approved"] is None and blind["overall_bad_rate"] is None
    assert blind["expected_bad_rate_approved"] == pytest.approx(0.2)
    none_approved = business_metrics(y, p, threshold=0.0)
    assert none_approved["approved"] == 0 and none_approved["expected_bad_rate_approved"] is None


def test_package_exports_what_all_says() -> None:
    assert len(ev.__all__) == len(set(ev.__all__))
    assert [n for n in ev.__all__ if not hasattr(ev, n)] == []
