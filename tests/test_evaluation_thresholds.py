"""Threshold policies, confusion counts and the threshold table, against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sklearn import metrics as sk

from appliance.evaluation import (
    Confusion,
    MetricError,
    ThresholdPolicy,
    choose_threshold,
    confusion,
    threshold_table,
)

Pair = tuple[NDArray[np.int64], NDArray[np.float64]]


@st.composite
def labelled_scores(draw: st.DrawFn, max_rows: int = 60) -> Pair:
    n = draw(st.integers(2, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([3, 10, 0]))
    rate = draw(st.sampled_from([0.5, 0.15, 0.0]))
    p = rng.random(n) if levels == 0 else rng.integers(0, levels + 1, n) / levels
    y = (rng.random(n) < np.clip(p + rate - 0.3, 0.0, 1.0)).astype(np.int64)
    y[rng.choice(n, 2, replace=False)] = [1, 0]
    return y, p


PROPERTY = settings(max_examples=40, deadline=None)


@PROPERTY
@given(labelled_scores(), st.floats(0.0, 1.0), st.sampled_from([0.5, 1.0, 2.0]))
def test_confusion_matches_sklearn(pair: Pair, threshold: float, beta: float) -> None:
    y, p = pair
    pred = (p >= threshold).astype(int)
    c = confusion(y, p, threshold)
    tn, fp, fn, tp = sk.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (c.tp, c.fp, c.tn, c.fn) == (tp, fp, tn, fn)
    prec, rec, f1, _ = sk.precision_recall_fscore_support(
        y, pred, average="binary", zero_division=0.0
    )
    assert (c.precision, c.recall, c.f1) == pytest.approx((prec, rec, f1))
    assert c.fbeta(beta) == pytest.approx(sk.fbeta_score(y, pred, beta=beta, zero_division=0.0))
    assert c.accuracy == pytest.approx(sk.accuracy_score(y, pred))
    assert c.fpr == pytest.approx(fp / (fp + tn))
    assert c.approval_rate == pytest.approx(1 - pred.mean())


def test_confusion_rates_are_zero_without_denominator() -> None:
    empty = Confusion(0, 0, 0, 0)
    assert (empty.precision, empty.recall, empty.f1, empty.fpr) == (0.0, 0.0, 0.0, 0.0)
    assert (empty.accuracy, empty.flagged_rate, empty.approval_rate) == (0.0, 0.0, 0.0)
    assert Confusion(0, 0, 5, 0).precision == 0.0 and Confusion(0, 0, 5, 0).approval_rate == 1.0


@PROPERTY
@given(labelled_scores(), st.sampled_from([0.5, 1.0, 2.0]))
def test_max_fbeta_is_the_best_distinct_threshold(pair: Pair, beta: float) -> None:
    y, p = pair
    t = choose_threshold(y, p, ThresholdPolicy("max_fbeta", beta=beta))
    assert t in set(p)
    scores = [sk.fbeta_score(y, p >= c, beta=beta, zero_division=0.0) for c in np.unique(p)]
    assert confusion(y, p, t).fbeta(beta) == pytest.approx(max(scores))


@PROPERTY
@given(labelled_scores())
def test_f2_threshold_catches_at_least_as_much_as_f1(pair: Pair) -> None:
    y, p = pair
    t1 = choose_threshold(y, p, ThresholdPolicy("max_fbeta", beta=1.0))
    t2 = choose_threshold(y, p, ThresholdPolicy("max_fbeta", beta=2.0))
    assert confusion(y, p, t2).recall >= confusion(y, p, t1).recall


@PROPERTY
@given(labelled_scores(), st.sampled_from([0.1, 0.5, 0.8, 0.95, 1.0]))
def test_precision_at_recall_respects_the_floor(pair: Pair, floor: float) -> None:
    y, p = pair
    t = choose_threshold(y, p, ThresholdPolicy("precision_at_recall", recall_floor=floor))
    chosen = confusion(y, p, t)
    assert chosen.recall >= floor
    feasible = [confusion(y, p, c) for c in np.unique(p)]
    best = max(c.precision for c in feasible if c.recall >= floor)
    assert chosen.precision == pytest.approx(best)
    assert chosen.recall == max(c.recall for c in feasible if c.precision == chosen.precision)


@PROPERTY
@given(st.integers(1, 500), st.integers(0, 2**32 - 1), st.floats(0.01, 0.99))
def test_approval_rate_hits_the_target_within_one_row(n: int, seed: int, target: float) -> None:
    p = np.random.default_rng(seed).random(n)
    t = choose_threshold(None, p, ThresholdPolicy("approval_rate", approval_rate=target))
    assert abs(np.mean(p < t) - target) <= 1 / n


def test_approval_rate_can_approve_everyone() -> None:
    t = choose_threshold(None, [0.2, 0.4], ThresholdPolicy("approval_rate", approval_rate=0.9))
    assert t > 0.4 and np.isfinite(t)


def test_threshold_policies_that_need_outcomes_say_so() -> None:
    with pytest.raises(MetricError, match="needs outcomes"):
        choose_threshold(None, [0.1, 0.2], ThresholdPolicy("max_fbeta"))
    with pytest.raises(MetricError, match="one class"):
        choose_threshold([0, 0], [0.1, 0.2], ThresholdPolicy("max_fbeta"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "best"}, "unknown threshold policy"),
        ({"kind": "max_fbeta", "beta": 0.0}, "beta"),
        ({"kind": "precision_at_recall"}, "recall_floor"),
        ({"kind": "precision_at_recall", "recall_floor": 0.0}, "recall_floor"),
        ({"kind": "precision_at_recall", "recall_floor": 1.2}, "recall_floor"),
        ({"kind": "approval_rate", "approval_rate": 1.0}, "approval_rate"),
        ({"kind": "approval_rate"}, "approval_rate"),
        ({"kind": "max_fbeta", "recall_floor": 0.5}, "recall_floor applies"),
        ({"kind": "approval_rate", "approval_rate": 0.8, "beta": 2.0}, "beta applies"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(MetricError, match=match):
        ThresholdPolicy(**kwargs)


def test_policy_descriptions() -> None:
    assert "F2" in ThresholdPolicy("max_fbeta", beta=2.0).describe()
    assert "F1" in ThresholdPolicy("max_fbeta").describe()
    assert "80%" in ThresholdPolicy("precision_at_recall", recall_floor=0.8).describe()
    assert "85.0%" in ThresholdPolicy("approval_rate", approval_rate=0.85).describe()


def test_threshold_table_defaults_to_percentiles_and_agrees_with_confusion() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    rows = threshold_table(y, p)
    assert len(rows) == 19
    assert [r["threshold"] for r in rows] == sorted(r["threshold"] for r in rows)
    for row in rows[::6]:
        c = confusion(y, p, row["threshold"])
        assert row["precision"] == pytest.approx(c.precision)
        assert row["recall"] == pytest.approx(c.recall)
        assert row["f2"] == pytest.approx(c.f2) and row["fpr"] == pytest.approx(c.fpr)
        assert row["approval_rate"] == pytest.approx(1 - row["flagged_rate"])
    tied = threshold_table([0, 1, 1], [0.5, 0.5, 0.5])
    assert len(tied) == 1 and tied[0]["flagged_rate"] == 1.0
    explicit = threshold_table(y, p, thresholds=[0.9, 0.1, 0.9])
    assert [r["threshold"] for r in explicit] == [0.1, 0.9]
