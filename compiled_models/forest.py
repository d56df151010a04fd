"""An XGBoost gbtree model as flat numpy arrays, read from its JSON (never a pickle).

Every node of every tree lives in one set of arrays, indexed globally; ``roots[t]`` is
tree ``t``'s root. A node goes left when its feature is missing (NaN) and
``default_left`` is set, or, for a numeric split, when ``float32(x) < threshold``
(XGBoost compares in float32), or, for a categorical split, when the category is not in
the node's set: listed categories go right; so do values truncated to a listed integer
(2.7 is category 2); negative values and unlisted categories go left. Checked against
``Booster.predict(pred_leaf=True)`` in the tests.

``base_margin`` is the model's base score on the margin scale: XGBoost 3 stores
``base_score`` as a probability for logistic objectives (``"[5E-1]"``), so it goes
through the logit. Supported: single-output ``gbtree`` models with the objectives in
``LINKS``; anything else raises ``UnsupportedModel`` naming what it found.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from appliance.errors import ApplianceError

__all__ = ["LINKS", "Forest", "RowsRejected", "UnsupportedModel", "as_rows", "goes_left"]

LINKS: dict[str, str] = {
    "binary:logistic": "logit",
    "binary:logitraw": "identity",  # its base_score is already a margin
    "reg:logistic": "logit",
    "reg:squarederror": "identity",
}
"""Objectives this module reads, and the link that turns ``base_score`` into a margin."""

LEAF = -1
"""``left[node]`` of a leaf."""


class UnsupportedModel(ApplianceError, ValueError):
    """The model is not a single-output gbtree model with a supported objective, or its
    JSON is not an XGBoost model at all. The message names what was found."""

    exit_code = 4
    http_status = 422


class RowsRejected(ApplianceError, ValueError):
    """Rows given to a forest have the wrong shape or a non-numeric type."""

    exit_code = 4
    http_status = 422


@dataclass(frozen=True, eq=False)
class Forest:
    """The trees of one XGBoost model, node arrays indexed globally across trees."""

    roots: np.ndarray
    """int32 [trees]: each tree's root node."""
    left: np.ndarray
    """int32 [nodes]: left child, or -1 for a leaf."""
    right: np.ndarray
    """int32 [nodes]: right child, or -1 for a leaf."""
    feature: np.ndarray
    """int32 [nodes]: split feature (0 for leaves)."""
    threshold: np.ndarray
    """float32 [nodes]: numeric split threshold; x goes left when float32(x) < threshold."""
    default_left: np.ndarray
    """bool [nodes]: where a missing value (NaN) goes."""
    value: np.ndarray
    """float64 [nodes]: leaf value (the float32 XGBoost stores); 0 for internal nodes."""
    cover: np.ndarray
    """float64 [nodes]: sum of hessians of the training rows that reached the node."""
    categorical: np.ndarray
    """bool [nodes]: the split is categorical (its set in ``categories``)."""
    category_offsets: np.ndarray
    """int64 [nodes + 1]: node n's categories are ``categories[offsets[n]:offsets[n+1]]``."""
    categories: np.ndarray
    """int64: the sorted categories that go right, node after node."""
    base_margin: float
    """The base score on the margin scale (after the objective's link)."""
    n_features: int
    objective: str
    feature_names: tuple[str, ...] = ()
    feature_types: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Forest:
        """Read ``booster.save_raw("json")`` bytes; raise UnsupportedModel for anything
        but a single-output gbtree model with an objective in ``LINKS``."""
        try:
            document = json.loads(raw)
            learner = document["learner"]
        except (ValueError, TypeError, KeyError) as exc:
            raise UnsupportedModel(f"not an XGBoost JSON model: {exc}") from exc
        try:
            return _read_learner(learner)
        except (KeyError, TypeError, IndexError) as exc:
            raise UnsupportedModel(f"XGBoost JSON model lacks or mangles {exc}") from exc

    @classmethod
    def from_booster(cls, booster: Any) -> Forest:
        """The forest of an ``xgboost.Booster`` (through its JSON, not a pickle)."""
        return cls.from_json(bytes(booster.save_raw("json")))

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.left.shape[0])

    def max_depth(self) -> int:
        """Edges on the longest root-to-leaf path."""
        return int(_max_depth(self.roots, self.left, self.right))

    def margin(self, X: np.ndarray) -> np.ndarray:
        """float64 [rows]: base margin plus every tree's leaf value, as
        ``booster.predict(output_margin=True)``; NaN is missing."""
        rows = as_rows(X, self.n_features)
        return _margins(rows, self.base_margin, self.roots, *self.node_arrays())

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """int32 [rows, trees]: the leaf each row reaches in each tree, numbered within
        its tree as ``booster.predict(pred_leaf=True)`` numbers them."""
        rows = as_rows(X, self.n_features)
        return _leaves(rows, self.roots, *self.node_arrays())

    def node_arrays(self) -> tuple[np.ndarray, ...]:
        """What a node decision needs, in the order the kernels take it."""
        return (
            self.left, self.right, self.feature, self.threshold, self.default_left,
            self.value, self.categorical, self.category_offsets, self.categories,
        )  # fmt: skip

    def thresholds_by_feature(self) -> dict[int, np.ndarray]:
        """Sorted unique float32 thresholds of the numeric splits, per feature used."""
        split = (self.left != LEAF) & ~self.categorical
        out: dict[int, np.ndarray] = {}
        for f in np.unique(self.feature[split]):
            out[int(f)] = np.unique(self.threshold[split & (self.feature == f)])
        return out


def as_rows(X: Any, n_features: int) -> np.ndarray:
    """``X`` as a C-contiguous float64 [rows, n_features] array; RowsRejected otherwise."""
    try:
        rows = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RowsRejected(f"rows must be numbers (NaN for missing): {exc}") from exc
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise RowsRejected(f"rows must have {n_features} feature columns; got shape {np.shape(X)}")
    return np.ascontiguousarray(rows)


# -- reading the JSON --------------------------------------------------------------------


def _read_learner(learner: dict[str, Any]) -> Forest:
    objective = str(learner["objective"]["name"])
    booster = learner["gradient_booster"]
    kind = booster.get("name")
    if kind != "gbtree":
        raise UnsupportedModel(f"booster {kind!r} is not supported (only gbtree)")
    params = learner["learner_model_param"]
    outputs = max(int(params.get("num_class", 0)), int(params.get("num_target", 1)))
    if outputs > 1:
        raise UnsupportedModel(f"multi-output models are not supported ({outputs} outputs)")
    if objective not in LINKS:
        raise UnsupportedModel(
            f"objective {objective!r} is not supported (only {', '.join(sorted(LINKS))})"
        )
    trees = booster["model"]["trees"]
    n_features = int(params["num_feature"])
    parts = [_read_tree(tree, i, n_features) for i, tree in enumerate(trees)]
    arrays = _concatenate(parts)
    return Forest(
        **arrays,
        base_margin=_base_margin(str(params["base_score"]), LINKS[objective]),
        n_features=n_features,
        objective=objective,
        feature_names=tuple(learner.get("feature_names") or ()),
        feature_types=tuple(learner.get("feature_types") or ()),
    )


def _base_margin(text: str, link: str) -> float:
    """``"[5E-1]"`` (XGBoost 3) or ``"5E-1"`` (older) through the link."""
    values = [v for v in text.strip().strip("[]").split(",") if v.strip()]
    if len(values) != 1:
        raise UnsupportedModel(f"base_score {text!r} is not one number")
    score = float(np.float32(float(values[0])))
    if link == "identity":
        return score
    if not 0.0 < score < 1.0:
        raise UnsupportedModel(f"base_score {score} is not a probability in (0, 1)")
    return math.log(score / (1.0 - score))


def _read_tree(tree: dict[str, Any], index: int, n_features: int) -> dict[str, np.ndarray]:
    leaf_size = int(tree.get("tree_param", {}).get("size_leaf_vector", "1") or 1)
    if leaf_size > 1:
        raise UnsupportedModel(f"tree {index} has vector leaves (multi-target trees)")
    left = np.asarray(tree["left_children"], dtype=np.int32)
    n = left.shape[0]
    split_type = np.asarray(tree.get("split_type") or np.zeros(n), dtype=np.int8)
    arrays = {
        "left": left,
        "right": np.asarray(tree["right_children"], dtype=np.int32),
        "feature": np.asarray(tree["split_indices"], dtype=np.int32),
        "conditions": np.asarray(tree["split_conditions"], dtype=np.float32),
        "default_left": np.asarray(tree["default_left"], dtype=bool),
        "cover": np.asarray(tree["sum_hessian"], dtype=np.float32).astype(np.float64),
        "categorical": split_type == 1,
    }
    if any(a.shape != (n,) for a in arrays.values()):
        raise UnsupportedModel(f"tree {index}: node arrays of different lengths")
    _check_structure(arrays, n, n_features, index)
    arrays["sets"] = _category_sets(tree, n, index)
    return arrays


def _check_structure(arrays: dict[str, np.ndarray], n: int, n_features: int, index: int) -> None:
    """The kernels index without bounds checks: children must be nodes of this tree, each
    with one parent (so no cycles), and split features must exist."""
    left, right = arrays["left"], arrays["right"]
    split = left != LEAF
    children = np.concatenate([left[split], right[split]])
    problems = []
    if n == 0 or not np.array_equal(split, right != LEAF):
        problems.append("a node with only one child")
    if children.size and (children.min() < 1 or children.max() >= n):
        problems.append("a child outside the tree")
    if np.unique(children).size != children.size:
        problems.append("a node with two parents")
    features = arrays["feature"][split]
    if features.size and (features.min() < 0 or features.max() >= n_features):
        problems.append(f"a split on a feature outside 0..{n_features - 1}")
    if problems:
        raise UnsupportedModel(f"tree {index} is malformed: {', '.join(problems)}")


def _category_sets(tree: dict[str, Any], n: int, index: int) -> list[np.ndarray]:
    """Per node, the sorted categories that go right (empty for numeric splits)."""
    sets = [np.zeros(0, dtype=np.int64)] * n
    flat = np.asarray(tree.get("categories") or [], dtype=np.int64)
    nodes = tree.get("categories_nodes") or []
    starts = tree.get("categories_segments") or []
    sizes = tree.get("categories_sizes") or []
    if not len(nodes) == len(starts) == len(sizes):
        raise UnsupportedModel(f"tree {index}: categories_* fields of different lengths")
    for node, start, size in zip(nodes, starts, sizes, strict=True):
        if not 0 <= int(node) < n:
            raise UnsupportedModel(f"tree {index}: categories for node {node}, not in the tree")
        sets[int(node)] = np.sort(flat[int(start) : int(start) + int(size)])
    return sets


def _concatenate(parts: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One set of global node arrays out of per-tree ones (children shifted)."""
    if not parts:
        raise UnsupportedModel("the model has no trees")
    sizes = np.array([p["left"].shape[0] for p in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    left = np.concatenate(
        [np.where(p["left"] < 0, LEAF, p["left"] + s) for p, s in zip(parts, starts, strict=True)]
    ).astype(np.int32)
    right = np.concatenate(
        [np.where(p["right"] < 0, LEAF, p["right"] + s) for p, s in zip(parts, starts, strict=True)]
    ).astype(np.int32)
    internal = left != LEAF
    conditions = np.concatenate([p["conditions"] for p in parts])
    sets = [s for p in parts for s in p["sets"]]
    counts = np.array([s.shape[0] for s in sets], dtype=np.int64)
    categorical = np.concatenate([p["categorical"] for p in parts]) & internal
    return {
        "roots": starts,
        "left": left,
        "right": right,
        "feature": np.where(internal, np.concatenate([p["feature"] for p in parts]), 0).astype(
            np.int32
        ),
        "threshold": np.where(internal & ~categorical, conditions, np.float32(0)),
        "default_left": np.concatenate([p["default_left"] for p in parts]),
        "value": np.where(internal, 0.0, conditions.astype(np.float64)),
        "cover": np.concatenate([p["cover"] for p in parts]),
        "categorical": categorical,
        "category_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "categories": np.concatenate([np.zeros(0, np.int64), *sets]).astype(np.int64),
    }


# -- compiled traversal ------------------------------------------------------------------


def _jit(function: Any) -> Any:
    """``numba.njit(cache=True, nogil=True)``; uncached where no cache dir is writable."""
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(function)


@_jit
def goes_left(node, x, feature, threshold, default_left, categorical, offsets, categories):
    """Whether row ``x`` goes to ``node``'s left child (XGBoost's rules, float32)."""
    fv = np.float32(x[feature[node]])
    if np.isnan(fv):
        return default_left[node]
    if not categorical[node]:
        return fv < threshold[node]
    if not (fv >= 0.0) or fv >= 2147483647.0:
        return True  # not a valid category: never in the set
    category = np.int64(fv)
    lo, hi = offsets[node], offsets[node + 1]
    while lo < hi:  # binary search of the sorted set
        mid = (lo + hi) // 2
        if categories[mid] < category:
            lo = mid + 1
        else:
            hi = mid
    return not (lo < offsets[node + 1] and categories[lo] == category)


@_jit
def _leaf(root, x, left, right, feature, threshold, default_left, categorical, offsets, cats):
    node = root
    while left[node] != -1:
        if goes_left(node, x, feature, threshold, default_left, categorical, offsets, cats):
            node = left[node]
        else:
            node = right[node]
    return node


@_jit
def _margins(
    rows,
    base,
    roots,
    left,
    right,
    feature,
    threshold,
    default_left,
    value,
    categorical,
    offsets,
    cats,
):
    out = np.empty(rows.shape[0])
    for r in range(rows.shape[0]):
        total = base
        for t in range(roots.shape[0]):
            node = _leaf(
                roots[t],
                rows[r],
                left,
                right,
                feature,
                threshold,
                default_left,
                categorical,
                offsets,
                cats,
            )
            total += value[node]
        out[r] = total
    return out


@_jit
def _leaves(
    rows, roots, left, right, feature, threshold, default_left, value, categorical, offsets, cats
):
    out = np.empty((rows.shape[0], roots.shape[0]), dtype=np.int32)
    for r in range(rows.shape[0]):
        for t in range(roots.shape[0]):
            node = _leaf(
                roots[t],
                rows[r],
                left,
                right,
                feature,
                threshold,
                default_left,
                categorical,
                offsets,
                cats,
            )
            out[r, t] = node - roots[t]
    return out


@_jit
def _max_depth(roots, left, right):
    deepest = 0
    stack = np.empty((left.shape[0] + 1, 2), dtype=np.int64)
    for t in range(roots.shape[0]):
        stack[0, 0], stack[0, 1] = roots[t], 0
        top = 1
        while top > 0:
            top -= 1
            node, depth = stack[top, 0], stack[top, 1]
            if left[node] == -1:
                deepest = max(deepest, depth)
                continue
            stack[top, 0], stack[top, 1] = left[node], depth + 1
            stack[top + 1, 0], stack[top + 1, 1] = right[node], depth + 1
            top += 2
    return deepest
