"""Forest (compiled_models.forest) against XGBoost itself: leaves, margins, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.errors import ApplianceError
from compiled_models.forest import Forest, RowsRejected, UnsupportedModel

PROPERTY = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def train(
    seed: int, *, trees: int = 5, depth: int = 3, features: int = 4, categorical: int = 0,
    onehot: int = 1, objective: str = "binary:logistic", base_score: float | None = 0.3,
    rows: int = 300, **params: object,
) -> tuple[xgb.Booster, np.ndarray, list[str]]:  # fmt: skip
    """A small booster on seeded data: the last ``categorical`` features hold codes 0..5,
    15 % of all values are missing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    types = ["q"] * (features - categorical) + ["c"] * categorical
    x[:, features - categorical :] = rng.integers(0, 6, (rows, categorical))
    x[rng.random(x.shape) < 0.15] = np.nan
    clean = np.nan_to_num(x)
    signal = clean[:, 0] - 0.7 * clean[:, -1] + np.isin(clean[:, -1], (1, 4))
    y = signal + rng.normal(size=rows) > 0.3
    settings_ = {"objective": objective, "max_depth": depth, "nthread": 1, "eta": 0.4,
                 "max_cat_to_onehot": onehot, "seed": seed, **params}  # fmt: skip
    if base_score is not None:
        settings_["base_score"] = base_score
    dm = xgb.DMatrix(x, y.astype(float), feature_types=types, enable_categorical=True)
    return xgb.train(settings_, dm, trees), x, types


def probe(rng: np.random.Generator, x: np.ndarray, forest: Forest, types: list[str]) -> np.ndarray:
    """Training-like rows plus rows at, just below and just above every threshold, NaNs,
    float32 extremes (XGBoost refuses infinities), and, for categorical features, unseen,
    negative and fractional codes."""
    rows = [x[rng.integers(0, len(x), 60)]]
    edges = np.nan_to_num(np.nanmedian(x, axis=0, keepdims=True))
    for f, cuts in forest.thresholds_by_feature().items():
        for cut in cuts:
            for value in (cut, np.nextafter(cut, np.float32(-np.inf)), np.nextafter(cut, np.inf)):
                row = edges.copy()
                row[0, f] = value
                rows.append(row)
    odd = rng.normal(size=(40, x.shape[1]))
    specials = np.array([np.nan, 3e38, -3e38, 1e-40, 0.0, -0.0])
    mask = rng.random(odd.shape) < 0.3
    odd[mask] = rng.choice(specials, size=int(mask.sum()))
    for f, kind in enumerate(types):
        if kind == "c":
            odd[:, f] = rng.choice([0, 1, 2, 3, 4, 5, 6, 40, -1, -0.5, 2.5, 3.9999, np.nan], 40)
    rows.append(odd)
    return np.concatenate(rows)


def xgb_rows(x: np.ndarray, types: list[str]) -> xgb.DMatrix:
    return xgb.DMatrix(x, feature_types=types, enable_categorical=True)


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
def test_leaves_and_margins_match_xgboost(
    seed: int, trees: int, depth: int, features: int, categorical: int, onehot: int,
    objective: str, base_score: float,
) -> None:  # fmt: skip
    categorical = min(categorical, features - 1)
    booster, x, types = train(
        seed, trees=trees, depth=depth, features=features, categorical=categorical,
        onehot=onehot, objective=objective, base_score=base_score, rows=200,
    )  # fmt: skip
    forest = Forest.from_booster(booster)
    rows = probe(np.random.default_rng(seed), x, forest, types)
    dm = xgb_rows(rows, types)
    want_leaves = booster.predict(dm, pred_leaf=True).astype(np.int32).reshape(len(rows), -1)
    assert np.array_equal(forest.leaves(rows), want_leaves)
    want = booster.predict(dm, output_margin=True).astype(np.float64)
    np.testing.assert_allclose(forest.margin(rows), want, rtol=1e-6, atol=1e-5)


def test_categories_listed_in_a_split_go_right() -> None:
    """Both split kinds (a set, max_cat_to_onehot=1; one category, =8) send the listed
    categories right, anything else (unseen, negative) left, missing to the default."""
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=400) * 0.01, rng.integers(0, 6, 400)])
    x[rng.random(400) < 0.1, 1] = np.nan
    y = np.isin(x[:, 1], (1, 4)).astype(float)
    dm = xgb.DMatrix(x, y, feature_types=["q", "c"], enable_categorical=True)
    params = {"max_depth": 1, "nthread": 1, "objective": "binary:logistic"}
    for onehot, sets in ((1, [{1, 4}, {0, 2, 3, 5}]), (8, [{1}, {4}])):
        forest = Forest.from_booster(xgb.train({**params, "max_cat_to_onehot": onehot}, dm, 1))
        assert forest.categorical[0] and forest.feature[0] == 1
        listed = forest.categories[forest.category_offsets[0] : forest.category_offsets[1]]
        assert set(listed.tolist()) in sets
        for code in (0, 1, 2, 3, 4, 5, 6, 40, -1, 1.5, 4.25):
            side = forest.leaves(np.array([[0.0, code]]))[0, 0]
            goes_right = int(code) in listed and code >= 0
            assert side == (forest.right[0] if goes_right else forest.left[0]), (onehot, code)
        missing = forest.leaves(np.array([[0.0, np.nan]]))[0, 0]
        assert missing == (forest.left[0] if forest.default_left[0] else forest.right[0])


def test_reads_every_supported_objective_and_base_score_form() -> None:
    for objective in ("binary:logistic", "binary:logitraw", "reg:logistic", "reg:squarederror"):
        booster, x, types = train(5, objective=objective, base_score=0.2)
        margin = booster.predict(xgb_rows(x, types), output_margin=True)
        np.testing.assert_allclose(Forest.from_booster(booster).margin(x), margin, atol=1e-5)
    booster, x, types = train(5, base_score=None)  # base score estimated from the labels
    forest = Forest.from_booster(booster)
    np.testing.assert_allclose(forest.margin(x), booster.predict(xgb_rows(x, types),
                               output_margin=True), atol=1e-5)  # fmt: skip
    document = json.loads(booster.save_raw("json"))
    params = document["learner"]["learner_model_param"]
    assert params["base_score"].startswith("[")
    params["base_score"] = params["base_score"].strip("[]")  # the pre-3.0 spelling
    assert Forest.from_json(json.dumps(document).encode()).base_margin == forest.base_margin


def test_thresholds_by_feature_are_sorted_unique_float32_numeric_splits() -> None:
    booster, _, _ = train(7, trees=20, depth=4, features=4, categorical=1)
    forest = Forest.from_booster(booster)
    cuts = forest.thresholds_by_feature()
    assert 3 not in cuts  # the categorical feature has no thresholds
    dumped: dict[int, set[float]] = {}
    for tree in booster.get_dump(dump_format="json"):
        stack = [json.loads(tree)]
        while stack:
            node = stack.pop()
            if "split_condition" in node and isinstance(node["split_condition"], float):
                feature = int(node["split"].lstrip("f"))
                dumped.setdefault(feature, set()).add(float(np.float32(node["split_condition"])))
            stack.extend(node.get("children", []))
    assert set(cuts) == set(dumped)
    for feature, values in cuts.items():
        assert values.dtype == np.float32
        assert np.all(np.diff(values) > 0)
        assert set(values.astype(float)) == dumped[feature]


def test_names_and_types_come_along() -> None:
    booster, _, _ = train(1, features=3, categorical=1)
    booster.feature_names = ["income", "age", "region"]
    forest = Forest.from_booster(booster)
    assert forest.feature_names == ("income", "age", "region")
    assert forest.feature_types == ("q", "q", "c")
    assert (forest.n_features, forest.n_trees, forest.objective) == (3, 5, "binary:logistic")
    assert forest.max_depth() <= 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"booster": "gblinear"}, "booster 'gblinear' is not supported"),
        ({"booster": "dart"}, "booster 'dart' is not supported"),
        ({"objective": "multi:softprob", "num_class": 3}, r"multi-output models .*\(3 outputs\)"),
        ({"multi_strategy": "multi_output_tree", "tree_method": "hist"}, "multi-output models"),
        ({"multi_strategy": "one_output_per_tree"}, r"multi-output models .*\(2 outputs\)"),
        ({"objective": "reg:tweedie"}, "objective 'reg:tweedie' is not supported"),
    ],
)
def test_unsupported_models_are_refused_by_name(params: dict[str, object], message: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)), rng.integers(0, 3, 100).astype(float)
    if "multi_strategy" in params:
        y = np.column_stack([y, -y])  # two regression targets
    booster = xgb.train({"nthread": 1, **params}, xgb.DMatrix(x, y), 2)
    with pytest.raises(UnsupportedModel, match=message) as caught:
        Forest.from_booster(booster)
    assert isinstance(caught.value, ApplianceError) and isinstance(caught.value, ValueError)


def test_not_a_model_is_refused() -> None:
    with pytest.raises(UnsupportedModel, match="not an XGBoost JSON model"):
        Forest.from_json(b"\x00pickle")
    with pytest.raises(UnsupportedModel, match="not an XGBoost JSON model"):
        Forest.from_json(b'{"something": "else"}')
    booster, _, _ = train(2)
    document = json.loads(booster.save_raw("json"))
    del document["learner"]["gradient_booster"]["model"]["trees"][0]["sum_hessian"]
    with pytest.raises(UnsupportedModel, match="sum_hessian"):
        Forest.from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("field", "node", "value", "problem"),
    [
        ("left_children", 0, None, "a node with two parents"),  # both children the same
        ("left_children", 0, 0, "a child outside the tree"),  # the root its own child
        ("left_children", 0, 99, "a child outside the tree"),
        ("right_children", 0, -1, "a node with only one child"),
        ("split_indices", 0, 7, "a split on a feature outside 0..3"),
    ],
)
def test_malformed_trees_are_refused(
    field: str, node: int, value: int | None, problem: str
) -> None:
    booster, _, _ = train(2, features=4)
    document = json.loads(booster.save_raw("json"))
    tree = document["learner"]["gradient_booster"]["model"]["trees"][1]
    tree[field][node] = tree["right_children"][node] if value is None else value
    with pytest.raises(UnsupportedModel, match=f"tree 1 is malformed: .*{problem}"):
        Forest.from_json(json.dumps(document))


def test_rows_of_the_wrong_shape_are_refused() -> None:
    booster, _, _ = train(2, features=4)
    forest = Forest.from_booster(booster)
    with pytest.raises(RowsRejected, match="4 feature columns; got shape \\(2, 3\\)"):
        forest.margin(np.zeros((2, 3)))
    with pytest.raises(RowsRejected, match="must be numbers"):
        forest.margin(np.array([["a", "b", "c", "d"]]))
    assert forest.margin(np.zeros(4)).shape == (1,)  # one row as a 1-D array
    assert forest.margin(np.zeros((0, 4))).shape == (0,)
