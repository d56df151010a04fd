"""Segmentation arithmetic on generated data: scaling, k-means and its choice of k, the JSON
artifact's numpy assignment against scikit-learn's own ``predict``, profiles, drift."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from appliance.errors import SchemaError
from appliance.segmentation.artifact import (
    SegmentationArtifact,
    SegmentFeature,
    assign,
    nearest_centroid,
)
from appliance.segmentation.drift import segment_drift
from appliance.segmentation.fit import Fitted, fit_segments, silhouette_sample
from appliance.segmentation.inputs import FeatureTransform
from appliance.segmentation.profile import ModelColumn, profile_segments
from appliance.segmentation.scaling import Scaler, check_distinct_rows, fit_scaler
from appliance.segmentation.train import latest_per_entity

NAMES = ("tenure", "logins", "products")


def blobs(n: int = 1500, seed: int = 3, missing: float = 0.05) -> np.ndarray:
    """Four well separated groups in three features of different units, some values missing."""
    rng = np.random.default_rng(seed)
    centres = np.array([[10, 5, 1], [120, 5, 1], [10, 300, 1], [60, 150, 6]], dtype=float)
    spread = np.array([4, 6, 0.4])
    x = centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 3)) * spread
    x[rng.random((n, 3)) < missing] = np.nan
    return x


def artifact_of(
    values: np.ndarray, scaler: Scaler, fitted: Fitted, scaling: str
) -> SegmentationArtifact:
    features = tuple(
        SegmentFeature(FeatureTransform(name), float(m), float(c), float(s))
        for name, m, c, s in zip(NAMES, scaler.medians, scaler.centres, scaler.scales, strict=True)
    )
    return SegmentationArtifact(
        usecase="demo", features=features, scaling=scaling, centroids=fitted.centroids,
        sizes=tuple(int(s) for s in fitted.sizes), silhouette=fitted.silhouette,
        algorithm=fitted.algorithm, seed=7, sklearn_version="test", spec_sha256="0" * 64,
        trained_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


# --- scaling ----------------------------------------------------------------------------


def test_median_imputation_then_standard_and_robust_scaling() -> None:
    x = np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0], [np.nan, 40.0], [14.0, 20.0]])
    standard = fit_scaler(x, ("a", "b"), "standard")
    assert standard.medians.tolist() == [2.5, 25.0]
    filled = np.where(np.isnan(x), standard.medians, x)
    assert np.allclose(standard.centres, filled.mean(axis=0))
    assert np.allclose(standard.scales, filled.std(axis=0))
    assert np.allclose(standard.apply(x).mean(axis=0), 0) and np.allclose(
        standard.apply(x).std(axis=0), 1
    )
    robust = fit_scaler(x, ("a", "b"), "robust")
    q25, q50, q75 = np.quantile(filled, [0.25, 0.5, 0.75], axis=0)
    assert np.allclose(robust.centres, q50) and np.allclose(robust.scales, q75 - q25)
    none = fit_scaler(x, ("a", "b"), "none")
    assert np.array_equal(none.apply(x), filled)


@pytest.mark.parametrize("scaling", ["standard", "robust"])
def test_a_constant_feature_cannot_be_scaled_and_is_named(scaling: str) -> None:
    x = np.column_stack([np.arange(10.0), np.full(10, 4.0)])
    x[3, 1] = np.nan  # the median fills it with the same constant
    with pytest.raises(SchemaError, match=r"x\.toml: segmentation\.features: 'flat' has .* of 0"):
        fit_scaler(x, ("fine", "flat"), scaling, "x.toml")  # type: ignore[arg-type]
    assert fit_scaler(x, ("fine", "flat"), "none").scales.tolist() == [1.0, 1.0]


def test_robust_scaling_of_a_mostly_zero_count_suggests_standard() -> None:
    x = np.zeros((20, 1))
    x[:3, 0] = [1, 2, 5]
    with pytest.raises(
        SchemaError, match=r'interquartile range of 0 .*most rows are 0.*use scaling = "standard"'
    ):
        fit_scaler(x, ("complaints",), "robust")
    assert fit_scaler(x, ("complaints",), "standard").scales[0] > 0


def test_more_segments_than_distinct_rows_is_refused() -> None:
    x = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), 50, axis=0)
    assert check_distinct_rows(x, 3) == 3
    with pytest.raises(SchemaError, match=r"4 segments .* 150 rows hold only 3 distinct"):
        check_distinct_rows(x, 4, "x.toml")


# --- fitting and assignment -------------------------------------------------------------


@pytest.mark.parametrize("minibatch", [False, True])
def test_numpy_assignment_from_the_json_artifact_matches_kmeans_predict(minibatch: bool) -> None:
    x = blobs()
    scaler = fit_scaler(x, NAMES, "standard")
    scaled = scaler.apply(x)
    fitted = fit_segments(
        scaled, [4], seed=7, sample=500, minibatch_above=0 if minibatch else 10**9
    )
    assert fitted.algorithm == ("minibatch" if minibatch else "kmeans")
    artifact = SegmentationArtifact.from_json(artifact_of(x, scaler, fitted, "standard").to_json())
    expected = fitted.relabel(fitted.estimator.predict(scaled))
    rows = {name: x[:, j] for j, name in enumerate(NAMES)}  # built values, NaN for missing
    assert np.array_equal(assign(artifact, rows), expected)
    assert np.array_equal(assign(artifact, x), expected)  # a matrix in feature order works too
    assert np.array_equal(np.bincount(expected, minlength=4), fitted.sizes)
    assert list(fitted.sizes) == sorted(fitted.sizes, reverse=True)  # segment 0 is the largest


def test_a_range_keeps_the_k_with_the_best_silhouette_and_is_deterministic() -> None:
    scaled = fit_scaler(blobs(missing=0), NAMES, "standard").apply(blobs(missing=0))
    first = fit_segments(scaled, [2, 3, 4, 5, 6], seed=11, sample=800)
    assert first.k == 4  # the four generated groups
    assert set(first.silhouette) == {2, 3, 4, 5, 6}
    assert first.silhouette[4] == max(v for v in first.silhouette.values() if v is not None)
    again = fit_segments(scaled, [2, 3, 4, 5, 6], seed=11, sample=800)
    assert np.array_equal(first.centroids, again.centroids)
    assert first.silhouette == again.silhouette


def test_the_silhouette_sample_is_seeded_and_bounded() -> None:
    assert np.array_equal(silhouette_sample(50, 100, 1), np.arange(50))
    a, b = silhouette_sample(10_000, 300, 5), silhouette_sample(10_000, 300, 5)
    assert np.array_equal(a, b) and a.size == 300 and np.unique(a).size == 300
    assert not np.array_equal(a, silhouette_sample(10_000, 300, 6))


def test_assignment_applies_the_stored_transform_imputation_and_scaling() -> None:
    feature = SegmentFeature(FeatureTransform("amount", clip=(0.0, 100.0), log=True), 2.0, 1.0, 0.5)
    artifact = SegmentationArtifact(
        usecase="u", features=(feature,), scaling="standard",
        centroids=np.array([[-1.0], [3.0], [9.0]]), sizes=(3, 2, 1), silhouette={3: 0.5},
        algorithm="kmeans", seed=1, sklearn_version="t", spec_sha256="0" * 64, trained_at="t",
    )  # fmt: skip
    # 5000 clips to 100; log1p(100)=4.62 -> (4.62-1)/0.5 = 7.2 -> nearest 9 (segment 2).
    # missing -> median 2.0 -> (2-1)/0.5 = 2 -> nearest 3 (segment 1); 0 -> -2 -> segment 0
    assert assign(artifact, {"amount": [5000.0, None, 0.0, np.nan]}).tolist() == [2, 1, 0, 1]
    assert assign(artifact, {"amount": 0.0}).tolist() == [0]  # one customer
    with pytest.raises(SchemaError, match=r"needs feature.*amount"):
        assign(artifact, {"other": [1.0]})
    with pytest.raises(SchemaError, match="takes 1 feature columns"):
        assign(artifact, np.zeros((2, 3)))
    with pytest.raises(SchemaError, match="must be numbers"):
        assign(artifact, {"amount": ["many"]})


def test_a_malformed_or_foreign_artifact_is_refused_naming_it() -> None:
    x = blobs(300)
    scaler = fit_scaler(x, NAMES, "none")
    fitted = fit_segments(scaler.apply(x), [3], seed=1, sample=300)
    good = artifact_of(x, scaler, fitted, "none").to_dict()
    with pytest.raises(SchemaError, match=r"seg\.json: format"):
        SegmentationArtifact.from_dict({**good, "format": 99}, "seg.json")
    with pytest.raises(SchemaError, match=r"seg\.json: malformed"):
        SegmentationArtifact.from_dict({**good, "features": good["features"][:1]}, "seg.json")
    with pytest.raises(SchemaError, match=r"seg\.json: not JSON"):
        SegmentationArtifact.from_json(b"\x80pickle", "seg.json")
    assert json.loads(artifact_of(x, scaler, fitted, "none").to_json())["k"] == 3


@settings(max_examples=60, deadline=None)
@given(
    centroids=hnp.arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(1, 4)),
                         elements=st.floats(-1e3, 1e3)),
    seed=st.integers(0, 2**16),
)  # fmt: skip
def test_nearest_centroid_is_the_brute_force_argmin(centroids: np.ndarray, seed: int) -> None:
    rows = np.random.default_rng(seed).normal(scale=500, size=(200, centroids.shape[1]))
    rows[: centroids.shape[0]] = centroids  # exact hits and ties between equal centroids
    distances = ((rows[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    assert np.array_equal(nearest_centroid(centroids, rows), distances.argmin(axis=1))


# --- entities, profiles, drift -----------------------------------------------------------


def test_each_entity_keeps_the_segment_of_its_latest_row() -> None:
    entities = np.array(["b", "a", "b", None, "a", "c"], dtype=object)
    dates = np.array(["2025-03-01", "2025-01-01", "2025-01-01", "2025-02-01", "NaT", "NaT"],
                     dtype="datetime64[D]")  # fmt: skip
    labels = np.array([0, 1, 2, 3, 4, 5])
    assert latest_per_entity(entities, dates, labels) == (["a", "b", "c"], [1, 0, 5])
    assert latest_per_entity(entities, None, labels) == (["a", "b", "c"], [4, 2, 5])


def test_profile_sizes_means_z_scores_and_prediction_means() -> None:
    raw = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 30.0], [7.0, 30.0]])
    labels = np.array([0, 0, 1, 1])
    column = ModelColumn("m", 2, "classification", "converted", np.array([0.1, 0.3, 0.5, 0.9]))
    premium = ModelColumn("p", 1, "regression", "annual_premium", np.array([100.0, 200, 300, 400]))
    profile = profile_segments(raw, labels, 2, ("a", "b"), [column, premium])
    assert profile.sizes.tolist() == [2, 2] and profile.shares.tolist() == [0.5, 0.5]
    assert profile.means.tolist() == [[2.0, 10.0], [6.0, 30.0]]
    assert profile.population_mean.tolist() == [4.0, 70 / 3]
    assert math.isclose(profile.z[0, 0], (2 - 4) / np.std([1, 3, 5, 7]))
    means, population = profile.predictions["mean propensity (m v2)"]
    assert np.allclose(means, [0.2, 0.7]) and math.isclose(population, 0.45)
    assert np.allclose(profile.predictions["mean predicted annual_premium (p v1)"][0], [150, 350])
    assert profile.distinctive(1)[0] in ("a ↑", "b ↑")
    as_json = json.loads(json.dumps(profile.to_dict()))
    assert as_json["segments"][1]["predictions"]["mean propensity (m v2)"] == pytest.approx(0.7)


def test_profile_of_a_feature_that_does_not_vary_has_zero_z_scores() -> None:
    profile = profile_segments(np.array([[1.0, 2.0], [1.0, 4.0]]), np.array([0, 1]), 2, ("c", "v"))
    assert profile.z[:, 0].tolist() == [0.0, 0.0] and profile.z[:, 1].tolist() == [-1.0, 1.0]


def test_segment_drift_is_zero_for_the_training_shares_and_known_for_a_shift() -> None:
    same = segment_drift([40, 30, 30], np.repeat([0, 1, 2], [400, 300, 300]))
    assert same.psi == pytest.approx(0.0, abs=1e-12) and same.level == "stable"
    shifted = segment_drift([50, 50], [0] * 90 + [1] * 10)
    expected = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)
    assert shifted.psi == pytest.approx(expected) and shifted.level == "act"
    assert shifted.current_shares == (0.9, 0.1) and shifted.training_shares == (0.5, 0.5)
    assert shifted.to_dict()["rows"] == 100


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=2, max_size=8),
    data=st.data(),
)
def test_segment_drift_is_the_psi_of_the_shares(sizes: list[int], data: st.DataObject) -> None:
    k = len(sizes)
    current = data.draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=300))
    e = np.maximum(np.array(sizes) / sum(sizes), 1e-4)
    a = np.maximum(np.bincount(current, minlength=k) / len(current), 1e-4)
    result = segment_drift(sizes, np.array(current))
    assert result.psi == pytest.approx(float(np.sum((a - e) * np.log(a / e))), abs=1e-9)
    assert result.level == (
        "stable" if result.psi < 0.1 else "watch" if result.psi <= 0.25 else "act"
    )


def test_segment_drift_refuses_segments_that_do_not_exist() -> None:
    with pytest.raises(SchemaError, match="segment 3 does not exist: segments are 0 to 2"):
        segment_drift([5, 5, 5], [0, 3])
    with pytest.raises(SchemaError, match="whole segment numbers"):
        segment_drift([5, 5], [0.5])
    with pytest.raises(SchemaError, match="at least one current row"):
        segment_drift([5, 5], [])


# --- the package ------------------------------------------------------------------------


def test_the_package_exports_what_it_says_and_imports_no_heavy_library() -> None:
    import appliance.segmentation as package

    assert [n for n in package.__all__ if not hasattr(package, n)] == []
    heavy = "('sklearn', 'matplotlib', 'jinja2', 'xgboost')"
    code = (
        "import sys, appliance.segmentation, appliance.cli.segments\n"
        f"print([m for m in {heavy} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
