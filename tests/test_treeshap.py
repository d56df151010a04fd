"""TreeSHAP (compiled_models.treeshap) against XGBoost's pred_contribs and against
Shapley values computed by brute force from their definition."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import combinations

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_models.forest import Forest, RowsRejected, goes_left
from compiled_models.treeshap import LANES, UP, TreeExplainer, quadrature
from tests.test_forest import probe, train, xgb_rows

PROPERTY = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def exact_shapley(forest: Forest, x: np.ndarray) -> np.ndarray:
    """The definition: phi_i = sum over S of |S|!(M-|S|-1)!/M! (v(S + i) - v(S)), where
    v(S) follows x on the features in S and averages the others' subtrees by cover."""
    m = forest.n_features
    arrays = (forest.feature, forest.threshold, forest.default_left, forest.categorical,
              forest.category_offsets, forest.categories)  # fmt: skip

    def expect(node: int, known: frozenset[int]) -> float:
        if forest.left[node] == -1:
            return float(forest.value[node])
        left, right = int(forest.left[node]), int(forest.right[node])
        if int(forest.feature[node]) in known:
            return expect(left if goes_left(node, x, *arrays) else right, known)
        weighted = forest.cover[left] * expect(left, known) + forest.cover[right] * expect(
            right, known
        )
        return float(weighted / forest.cover[node])

    @cache
    def value(known: frozenset[int]) -> float:
        return sum(expect(int(root), known) for root in forest.roots)

    phi = np.zeros(m + 1)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in combinations(others, size):
                known = frozenset(subset)
                phi[i] += weight * (value(known | {i}) - value(known))
    phi[m] = forest.base_margin + value(frozenset())
    return phi


@PROPERTY
@given(
    seed=st.integers(0, 2**16),
    trees=st.integers(1, 30),
    depth=st.integers(1, 5),
    features=st.integers(2, 8),
    categorical=st.integers(0, 2),
    onehot=st.sampled_from([1, 8]),
    objective=st.sampled_from(["binary:logistic", "reg:squarederror"]),
    base_score=st.floats(0.05, 0.95),
)
def test_contributions_match_xgboost_and_add_up_to_the_margin(
    seed: int, trees: int, depth: int, features: int, categorical: int, onehot: int,
    objective: str, base_score: float,
) -> None:  # fmt: skip
    categorical = min(categorical, features - 1)
    booster, x, types = train(
        seed, trees=trees, depth=depth, features=features, categorical=categorical,
        onehot=onehot, objective=objective, base_score=base_score, rows=200,
    )  # fmt: skip
    forest = Forest.from_booster(booster)
    explainer = TreeExplainer(forest)
    rows = probe(np.random.default_rng(seed), x, forest, types)
    ours = explainer.contributions(rows)
    theirs = booster.predict(xgb_rows(rows, types), pred_contribs=True).astype(np.float64)
    # XGBoost sums in float32: allow a few float32 ulps of the largest magnitude involved
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(ours.sum(axis=1), forest.margin(rows), rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(ours[:, -1], explainer.bias)
    singles = np.array([explainer.row(r) for r in rows[:25]])
    np.testing.assert_allclose(singles, ours[:25], rtol=0, atol=1e-12)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    trees=st.integers(1, 4),
    depth=st.integers(1, 5),
    features=st.integers(2, 5),
    categorical=st.integers(0, 1),
    zero_covers=st.booleans(),
)
def test_contributions_are_the_exact_shapley_values(
    seed: int, trees: int, depth: int, features: int, categorical: int, zero_covers: bool
) -> None:
    """Against the definition, independently of XGBoost; optionally with some leaves'
    covers set to zero (a zero fraction of 0 must not divide by zero)."""
    booster, x, types = train(seed, trees=trees, depth=depth, features=features,
                              categorical=categorical, rows=150)  # fmt: skip
    document = json.loads(booster.save_raw("json"))
    if zero_covers:
        rng = np.random.default_rng(seed)
        for tree in document["learner"]["gradient_booster"]["model"]["trees"]:
            leaves = [i for i, child in enumerate(tree["left_children"]) if child == -1]
            for leaf in rng.choice(leaves, size=max(1, len(leaves) // 3), replace=False):
                tree["sum_hessian"][int(leaf)] = 0.0
    forest = Forest.from_json(json.dumps(document))
    explainer = TreeExplainer(forest)
    rows = probe(np.random.default_rng(seed), x, forest, types)[::7]
    ours = explainer.contributions(rows)
    for row, got in zip(rows, ours, strict=True):
        np.testing.assert_allclose(got, exact_shapley(forest, row), rtol=1e-10, atol=1e-12)


def test_repeated_features_on_a_path_are_merged() -> None:
    """Two features, depth 6: most paths split on the same feature several times."""
    booster, x, types = train(11, trees=4, depth=6, features=2, rows=400)
    forest = Forest.from_booster(booster)
    explainer = TreeExplainer(forest)
    assert np.count_nonzero(explainer.schedule.split_ints[:, UP]) > 10  # merged into others
    rows = probe(np.random.default_rng(11), x, forest, types)
    ours = explainer.contributions(rows)
    theirs = booster.predict(xgb_rows(rows, types), pred_contribs=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    for row, got in zip(rows[::9], ours[::9], strict=True):
        np.testing.assert_allclose(got, exact_shapley(forest, row), rtol=1e-10, atol=1e-12)


def test_deep_trees_use_more_quadrature_lanes() -> None:
    """Paths with more than six distinct features need more than three nodes of the
    quadrature; the kernel then runs each tree once per group of three."""
    booster, x, types = train(
        4, trees=3, depth=14, features=24, rows=3000, min_child_weight=0, eta=0.3, base_score=0.5
    )
    explainer = TreeExplainer(Forest.from_booster(booster))
    assert explainer.schedule.longest > 8 and explainer.schedule.lanes >= 2 * LANES
    ours = explainer.contributions(x[:300])
    theirs = booster.predict(xgb_rows(x[:300], types), pred_contribs=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    margin = booster.predict(xgb_rows(x[:300], types), output_margin=True)
    np.testing.assert_allclose(ours.sum(axis=1), margin, atol=1e-5)


def test_quadrature_integrates_the_shapley_weights_exactly() -> None:
    """sum_q w_q t^k (1-t)^(d-1-k) = k!(d-k-1)!/d! for every d up to ``longest``."""
    for longest in (1, 2, 5, 6, 9, 17):
        t, s, w = quadrature(longest)
        assert t.shape[0] % LANES == 0 and np.all(w[(longest + 1) // 2 :] == 0)
        for d in range(1, longest + 1):
            for k in range(d):
                want = math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d)
                assert abs(np.sum(w * t**k * s ** (d - 1 - k)) - want) < 1e-13 * max(1, want)


def test_rows_from_many_threads_agree_with_the_batch() -> None:
    booster, x, _ = train(9, trees=30, depth=5, features=6, categorical=1)
    explainer = TreeExplainer(Forest.from_booster(booster))
    want = explainer.contributions(x)

    def explain(start: int) -> np.ndarray:
        out = np.empty(explainer.n_features + 1)
        got = []
        for r in range(start, len(x), 4):
            got.append(explainer.row(x[r], out).copy())
        return np.array(got)

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(explain, range(4)))
    for start, part in enumerate(parts):
        np.testing.assert_array_equal(part, want[start::4])


def test_a_single_leaf_tree_only_moves_the_bias() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    booster = xgb.train({"nthread": 1, "max_depth": 2, "objective": "reg:squarederror",
                         "base_score": 1.5}, xgb.DMatrix(x, np.full(50, 2.0)), 3)  # fmt: skip
    explainer = TreeExplainer(Forest.from_booster(booster))
    ours = explainer.contributions(x)
    np.testing.assert_array_equal(ours[:, :3], 0.0)
    np.testing.assert_allclose(ours[:, 3], booster.predict(xgb.DMatrix(x), output_margin=True))


def test_bad_rows_are_refused_with_their_shape() -> None:
    booster, _, _ = train(1, features=4)
    explainer = TreeExplainer(Forest.from_booster(booster))
    with pytest.raises(RowsRejected, match=r"4 features; got shape \(5,\)"):
        explainer.row(np.zeros(5))
    with pytest.raises(RowsRejected, match=r"4 features; got shape \(1, 4\)"):
        explainer.row(np.zeros((1, 4)))
    with pytest.raises(RowsRejected, match="contiguous float64 array of 5"):
        explainer.row(np.zeros(4), out=np.zeros(5, np.float32))
    with pytest.raises(RowsRejected, match="contiguous float64 array of 5"):
        explainer.row(np.zeros(4), out=np.zeros((5, 2))[:, 0])
    with pytest.raises(RowsRejected, match="4 feature columns"):
        explainer.contributions(np.zeros((3, 2)))
    assert explainer.contributions(np.zeros((0, 4))).shape == (0, 5)
    row = np.array([1, 2, 3, 4], dtype=np.int64)  # any numeric dtype is taken
    np.testing.assert_allclose(explainer.row(row), explainer.contributions(row[None, :])[0])
