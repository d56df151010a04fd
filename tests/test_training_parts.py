"""Splits, the logistic baseline and fitted encoders, each against an independent check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.features.transforms import (
    MISSING,
    UNSEEN,
    encoder_from_dict,
    fit_categorical,
    fit_numeric,
)
from appliance.training.baseline import LogisticBaseline
from appliance.training.split import make_split
from appliance.usecase.spec import SplitPolicy


def test_time_split_is_ordered_and_holds_out_the_last_months() -> None:
    rng = np.random.default_rng(1)
    dates = np.datetime64("2024-01-01") + rng.integers(0, 365, 5000).astype("timedelta64[D]")
    s = make_split(SplitPolicy("time", 0.15, 0.15, backtest_months=2), np.zeros(5000), dates)
    assert dates[s.train].max() <= dates[s.validation].min()
    assert dates[s.validation].max() <= dates[s.test].min()
    assert dates[s.backtest].min() == np.datetime64("2024-11-01")
    assert dates[s.test].max() < np.datetime64("2024-11-01")
    everything = np.concatenate([s.train, s.validation, s.test, s.backtest])
    assert np.array_equal(np.sort(everything), np.arange(5000))
    assert s.sizes()["test"] == pytest.approx(0.15 * (5000 - s.backtest.size), abs=1)


@given(st.integers(0, 2**31), st.floats(0.02, 0.5))
@settings(max_examples=25, deadline=None)
def test_random_split_is_seeded_stratified_and_complete(seed: int, rate: float) -> None:
    y = (np.random.default_rng(seed).random(2000) < rate).astype(float)
    policy = SplitPolicy("random", 0.2, 0.2, seed=seed % 1000)
    a, b = make_split(policy, y, None), make_split(policy, y, None)
    assert np.array_equal(a.test, b.test)
    assert np.array_equal(np.sort(np.concatenate([a.train, a.validation, a.test])), np.arange(2000))
    if y.sum() >= 20:
        assert y[a.test].mean() == pytest.approx(y.mean(), abs=0.02)


def test_baseline_matches_scikit_learn_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 3000
    x = np.column_stack([rng.normal(0, 1, n), rng.normal(3, 2, n), rng.integers(0, 4, n)])
    logit = 0.8 * x[:, 0] - 0.3 * x[:, 1] + np.array([0, 0.5, -0.5, 1.0])[x[:, 2].astype(int)]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    ours = LogisticBaseline.fit(x, y, ["q", "q", "c"], [1, 1, 4], l2=1e-6)
    design = np.column_stack([x[:, :2], np.eye(4)[x[:, 2].astype(int)][:, 1:]])
    theirs = LogisticRegression(C=1e9, tol=1e-12, max_iter=10_000).fit(design, y)
    np.testing.assert_allclose(ours.predict(x), theirs.predict_proba(design)[:, 1], atol=1e-5)


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "é", " "])), min_size=1),
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "zz"])), min_size=1),
    st.integers(1, 3),
)
@settings(max_examples=50, deadline=None)
def test_categorical_codes_cover_levels_missing_and_unseen(
    train: list[str | None], later: list[str | None], min_count: int
) -> None:
    enc = fit_categorical("c", np.array(train, dtype=object), min_count=min_count)
    codes = enc.apply(np.array(later, dtype=object))
    labels = [enc.categories[int(c)] for c in codes]
    for value, label in zip(later, labels, strict=True):
        if value is None:
            assert label == MISSING
        elif value in enc.levels:
            assert label == value
        else:
            assert label == UNSEEN
    assert encoder_from_dict(enc.to_dict()) == enc


@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=2, max_size=200),
    st.booleans(),
    st.one_of(st.none(), st.integers(2, 8)),
)
@settings(max_examples=50, deadline=None)
def test_numeric_encoder_never_emits_missing_and_round_trips(
    values: list[float], log: bool, bins: int | None
) -> None:
    x = np.array(values)
    enc = fit_numeric("n", x, clip=(0.05, 0.95), log=log, bins=bins)
    out = enc.apply(np.append(x, [np.nan, np.inf, -1e12, 1e12]))
    assert np.isfinite(out).all()
    assert encoder_from_dict(enc.to_dict()) == enc
    if enc.bin_edges is not None:
        assert out.min() >= 0 and out.max() <= len(enc.bin_edges)
