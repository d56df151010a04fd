"""The pure monitoring measurements: two-sample drift against numpy and scipy, drift
against stored reference statistics, bands, windows, expected performance, fairness."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from appliance.features.pipeline import FeaturePipeline
from appliance.monitoring import MonitoringConfig, MonitoringError, compare_samples
from appliance.monitoring.bands import Band
from appliance.monitoring.drift import categorical_drift, jensen_shannon, numeric_drift
from appliance.monitoring.fairness import group_fairness
from appliance.monitoring.performance import expected_auc_ks, performance_figures
from appliance.monitoring.reference import NumericReference, Reference, rounded
from appliance.monitoring.samples import compare_columns, ks_p_value, quantile_edges
from appliance.monitoring.windows import window_of, windows_between

CONFIG = MonitoringConfig(min_rows=50)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def _numpy_psi_ks(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    r, c = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    edges = np.unique(np.quantile(r, np.linspace(0, 1, 11)[1:-1]))
    e = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1) / r.size
    a = np.bincount(np.searchsorted(edges, c, side="right"), minlength=edges.size + 1) / c.size
    e, a = np.maximum(e, 1e-4), np.maximum(a, 1e-4)
    return float(np.sum((a - e) * np.log(a / e))), float(ks_2samp(r, c).statistic)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 300), elements=finite | st.just(np.nan)),
    arrays(np.float64, st.integers(1, 300), elements=finite | st.just(np.nan)),
)
def test_psi_and_ks_match_numpy_and_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    result = compare_samples(ref, cur)
    if not np.isfinite(ref).any() or not np.isfinite(cur).any():
        assert result.psi is None and result.ks is None
        return
    psi, d = _numpy_psi_ks(ref, cur)
    assert result.psi == pytest.approx(psi, abs=1e-12)
    assert result.ks == pytest.approx(d, abs=1e-12)
    assert result.current_missing == int((~np.isfinite(cur)).sum())


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.integers(1, 2000), elements=finite), st.integers(2, 20))
def test_quantile_edges_equal_numpy_quantile(values: np.ndarray, bins: int) -> None:
    ordered = np.sort(values)
    expected = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    assert np.array_equal(quantile_edges(ordered, bins), expected)


def test_ks_p_value_is_scipys_up_to_the_exact_size_and_close_above() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=3000), rng.normal(0.05, 1, size=4000)
    assert compare_samples(a, b).ks_p == pytest.approx(ks_2samp(a, b, method="asymp").pvalue,
                                                       abs=1e-12)  # fmt: skip
    from scipy.stats import kstwo

    for d in (0.002, 0.003, 0.004):
        assert abs(ks_p_value(d, 1_000_000, 1_000_000) - kstwo.sf(d, 500_000)) < 1e-3


def test_columns_run_on_threads_with_the_same_results() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=(5000, 4)), rng.normal(0.1, 1, size=(5000, 4))
    one = compare_columns(ref, cur, threads=1)
    two = compare_columns(ref, cur, threads=2)
    assert one == two and all(r.psi is not None and r.psi > 0 for r in one)
    with pytest.raises(ValueError, match="one current column per reference column"):
        compare_columns(ref, cur[:, :2])


def _reference(values: np.ndarray) -> NumericReference:
    from appliance.training.reference import _numeric

    raw = _numeric(values)
    return Reference.from_dict({"format": 2, "rows": values.size, "features": {"x": raw}},
                               subject="test").features["x"]  # type: ignore[return-value]


def test_a_shift_reaches_act_and_the_same_distribution_stays_stable() -> None:
    rng = np.random.default_rng(1)
    ref = _reference(rng.normal(size=5000))
    same = numeric_drift(ref, rng.normal(size=2000), CONFIG)
    moved = numeric_drift(ref, rng.normal(1.0, 1, size=2000), CONFIG)
    assert same.level == "stable" and same.value("psi") < 0.05
    assert moved.level == "act" and moved.value("psi") > 0.25
    assert moved.value("ks") == pytest.approx(_numpy_psi_ks(rng.normal(size=200000),
                                              rng.normal(1, 1, size=200000))[1], abs=0.03)
    assert moved.value("ks_p") < 1e-6 < same.value("ks_p")
    assert moved.value("wasserstein") == pytest.approx(1.0, abs=0.1)
    assert jensen_shannon(np.ones(4), np.ones(4)) == 0.0


def test_bad_windows_give_no_false_alert() -> None:
    rng = np.random.default_rng(2)
    ref = _reference(rng.normal(size=3000))
    empty = numeric_drift(ref, np.array([]), CONFIG)
    assert empty.rows == 0 and empty.level is None and "no values" in empty.note
    few = numeric_drift(ref, rng.normal(3, 1, size=10), CONFIG)  # shifted but tiny
    assert few.level is None and "not judged" in few.note and few.value("psi") > 0.25
    single = numeric_drift(ref, np.full(500, 0.1), CONFIG)  # a single-valued window
    assert np.isfinite(single.value("psi")) and single.level == "act"
    constant = _reference(np.full(1000, 7.0))  # a single-valued reference
    same = numeric_drift(constant, np.full(300, 7.0), CONFIG)
    assert same.value("psi") == 0.0 and same.level == "stable"
    assert same.metric("wasserstein") is not None
    assert same.metric("wasserstein").detail["per_std"] is None  # no division by a zero std
    nothing = _reference(np.full(100, np.nan))  # a feature missing in every training row
    assert numeric_drift(nothing, rng.normal(size=200), CONFIG).value("psi") is not None


def test_missing_rate_change_needs_the_raw_rate_in_the_reference() -> None:
    rng = np.random.default_rng(4)
    with_raw = NumericReference("x", 1000, np.array([0.0]), np.array([0.5, 0.5]), None, None,
                                0.02, 1.0)  # fmt: skip
    drift = numeric_drift(with_raw, rng.normal(size=400), CONFIG, raw_missing=0.30)
    change = drift.metric("missing_change")
    assert change is not None and change.value == pytest.approx(0.28) and change.level == "act"
    old = NumericReference("x", 1000, np.array([0.0]), np.array([0.5, 0.5]), None, None, None,
                           1.0)  # fmt: skip
    unknown = numeric_drift(old, rng.normal(size=400), CONFIG, raw_missing=0.30)
    assert unknown.metric("missing_change").value is None  # type: ignore[union-attr]
    assert unknown.metric("ks").detail == {"approximate": True}  # type: ignore[union-attr]


def test_categorical_drift_counts_unseen_and_missing_levels() -> None:
    from appliance.monitoring.reference import CategoricalReference

    ref = CategoricalReference("c", 1000, ("a", "b", "(missing)", "(other)"),
                               np.array([0.5, 0.5, 0.0, 0.0]))  # fmt: skip
    codes = np.r_[np.zeros(100), np.ones(60), np.full(20, 2), np.full(20, 3)]
    drift = categorical_drift(ref, codes, CONFIG, unseen=Counter({"zz": 15, "yy": 5}))
    assert drift.value("unseen_share") == pytest.approx(0.10)
    assert drift.value("missing_change") == pytest.approx(0.10)
    assert drift.metric("unseen_share").detail["values"][0] == ["zz", 15]  # type: ignore[union-attr]
    assert drift.level == "act"


def test_rounding_a_score_reference_merges_bins_and_keeps_the_cdf() -> None:
    ref = NumericReference("(score)", 10, np.array([0.0504312, 0.0504314, 0.06]),
                           np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0504312, 0.0504314, 0.06]),
                           np.array([0.3, 0.5, 1.0]), None, None)  # fmt: skip
    r = rounded(ref, 6)
    assert r.edges.tolist() == [0.050431, 0.06]
    assert r.frequencies.tolist() == pytest.approx([0.1, 0.5, 0.4])
    assert r.points is not None and r.cdf is not None and r.cdf.tolist() == [0.5, 1.0]


def test_a_broken_reference_is_a_clear_error() -> None:
    with pytest.raises(MonitoringError, match="credit v3: its stored reference"):
        Reference.from_dict({"features": {"x": {"type": "numeric"}}}, subject="credit v3")


@pytest.mark.parametrize(("value", "level"), [(0.05, "stable"), (0.10, "watch"),
                                              (0.25, "watch"), (0.2501, "act")])  # fmt: skip
def test_psi_bands(value: float, level: str) -> None:
    assert Band(0.10, 0.25).level(value) == level


def test_config_errors_name_the_key() -> None:
    with pytest.raises(MonitoringError, match=r"unknown monitoring parameter.*psi_watch"):
        MonitoringConfig.from_params({"psi_watch": 0.1})
    with pytest.raises(MonitoringError, match=r"bands.psi must be \[watch, act\]"):
        MonitoringConfig.from_params({"bands": {"psi": 0.2}})
    with pytest.raises(MonitoringError, match="watch <= act"):
        MonitoringConfig.from_params({"bands": {"psi": [0.3, 0.1]}})
    with pytest.raises(MonitoringError, match=r"smtp\.recipients"):
        MonitoringConfig.from_params({"smtp": {"host": "relay"}})
    with pytest.raises(MonitoringError, match="webhook must be an http"):
        MonitoringConfig.from_params({"webhook": "ftp://x"})
    with pytest.raises(MonitoringError, match="min_rows must be a int"):
        MonitoringConfig.from_params({"min_rows": "10"})
    good = MonitoringConfig.from_params({"bands": {"psi": [0.2, 0.3]}, "window": "month"})
    assert good.band("psi") == Band(0.2, 0.3) and good.band("unseen_share") is not None


def test_windows() -> None:
    assert window_of("week", "2025-04-09T23:59:00+00:00").label == "2025-W15"
    assert window_of("week", date(2025, 4, 9)).start == date(2025, 4, 7)
    month = window_of("month", date(2024, 12, 31))
    assert (month.start, month.end, month.label) == (date(2024, 12, 1), date(2025, 1, 1),
                                                     "2024-12")  # fmt: skip
    assert [w.label for w in windows_between("month", "2024-11-20", "2025-02-01")] == [
        "2024-11", "2024-12", "2025-01", "2025-02"]  # fmt: skip
    with pytest.raises(ValueError, match="day, week or month"):
        window_of("year", date(2025, 1, 1))


def _brute_expected_auc(p: np.ndarray) -> float:
    num = den = 0.0
    for i in range(p.size):
        for j in range(p.size):
            if i == j:
                continue
            w = p[i] * (1 - p[j])
            den += w
            num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 25), elements=st.sampled_from([0.05, 0.1, 0.3, 0.7, 0.9])
              | st.floats(0.01, 0.99)))  # fmt: skip
def test_expected_auc_is_the_pairwise_expectation(p: np.ndarray) -> None:
    auc, ks = expected_auc_ks(p)
    assert auc == pytest.approx(_brute_expected_auc(p), abs=1e-9)
    assert ks is not None and 0.0 <= ks <= 1.0


def test_performance_is_estimated_until_labels_mature_then_realised() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0.01, 0.6, 2000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    approve = p < 0.3
    none = performance_figures(p, approve, np.full(p.size, np.nan), CONFIG, test_auc=0.8)
    assert {(f.metric, f.estimated) for f in none} == {
        ("approval_rate", False), ("labelled_share", False), ("bad_rate", True),
        ("roc_auc", True), ("ks", True)}  # fmt: skip
    full = {(f.metric, f.estimated): f for f in performance_figures(
        p, approve, y, CONFIG, score_edges=np.array([0.1, 0.3]), test_auc=0.9)}  # fmt: skip
    realised, expected = full[("roc_auc", False)].value, full[("roc_auc", True)].value
    assert realised == pytest.approx(expected, abs=0.03)  # calibrated scores: close
    assert full[("auc_drop", False)].level == "act"  # 0.9 on test, ~0.7 now
    bands = full[("bad_rate", False)].detail["by_score_band"]
    assert [b["rows"] for b in bands] == [int((p < 0.1).sum()), int(((p >= 0.1) & (p < 0.3)).sum()),
                                          int((p >= 0.3).sum())]  # fmt: skip
    few = performance_figures(p[:20], approve[:20], y[:20], CONFIG)
    assert {f.metric for f in few if not f.estimated} >= {"bad_rate", "roc_auc"}
    assert next(f for f in few if f.metric == "roc_auc" and not f.estimated).value is None


def test_fairness_flags_an_attribute_below_four_fifths_and_skips_small_groups() -> None:
    n = 400
    group = np.array(["A"] * 200 + ["B"] * 190 + ["C"] * 10, dtype=object)
    p = np.r_[np.full(200, 0.1), np.r_[np.full(100, 0.1), np.full(90, 0.9)], np.full(10, 0.9)]
    y = np.where(np.arange(n) % 2 == 0, 1.0, np.nan)
    rows = group_fairness({"g": group}, p, 0.5, y, min_group_size=30)
    by = {r.group: r for r in rows}
    assert by["A"].approval_rate == 1.0 and by["B"].approval_rate == pytest.approx(100 / 190)
    assert by["B"].four_fifths_pass is False
    assert by["B"].disparate_impact == pytest.approx(100 / 190)
    assert not by["C"].eligible and by["C"].impact_ratio is None
    assert by["A"].labelled == 100 and by["A"].tpr == 0.0


def test_reference_statistics_of_a_pipeline_keep_format_2_fields() -> None:
    from appliance.features.transforms import CategoricalEncoder, NumericEncoder
    from appliance.training.reference import reference_statistics
    from appliance.usecase.parse import parse_spec

    spec = parse_spec({"name": "t", "population": {"dataset": "d", "id": "i", "target": "y"},
                       "features": "auto", "split": {"policy": "random"}}, origin="t")  # fmt: skip
    pipe = FeaturePipeline(spec, (), (NumericEncoder("x", 0.0), CategoricalEncoder("c", ("a",))),
                           ("x", "c"))  # fmt: skip
    x = np.c_[np.arange(100.0), np.r_[np.zeros(90), np.ones(10)]]
    ref = reference_statistics(pipe, x, np.linspace(0, 1, 50))
    assert ref["format"] == 2 and len(ref["features"]["x"]["points"]) == 101
    assert ref["features"]["x"]["cdf"][-1] == 1.0 and ref["score"]["rows"] == 50
    assert ref["features"]["c"]["frequencies"] == [0.9, 0.1, 0.0]
    assert "raw_missing" not in ref["features"]["x"]


def test_reference_keeps_the_missing_rate_before_imputation_for_like_with_like() -> None:
    from appliance.features.builders import RawColumn
    from appliance.features.transforms import CategoricalEncoder, fit_numeric
    from appliance.training.reference import reference_statistics
    from appliance.usecase.parse import parse_spec

    spec = parse_spec({"name": "t", "population": {"dataset": "d", "id": "i", "target": "y"},
                       "features": "auto", "split": {"policy": "random"}}, origin="t")  # fmt: skip
    rng = np.random.default_rng(4)
    income = rng.normal(50.0, 10.0, 400)
    income[rng.random(400) < 0.3] = np.nan  # 30 % missing in the population
    city = np.array(["x", "y", None, ""] * 100, dtype=object)  # None and "" are missing
    train = np.arange(400) < 300
    encoder = fit_numeric("income", income[train])
    pipe = FeaturePipeline(spec, (), (encoder, CategoricalEncoder("city", ("x", "y"))),
                           ("income", "city"))  # fmt: skip
    raw = [RawColumn("income", "numeric", income, "income"),
           RawColumn("city", "categorical", city, "city")]  # fmt: skip
    x_train = pipe.encode([RawColumn(c.name, c.kind, c.values[train], c.source) for c in raw])
    assert np.isfinite(x_train).all()  # imputed: the encoded matrix hides what was missing
    ref = reference_statistics(pipe, x_train, np.linspace(0, 1, 50), raw, rows=train)
    expected = float(np.isnan(income[train]).mean())
    assert ref["features"]["income"]["raw_missing"] == expected
    assert ref["features"]["city"]["raw_missing"] == 0.5
    with pytest.raises(ValueError, match="rows= to pick them"):
        reference_statistics(pipe, x_train, np.linspace(0, 1, 50), raw)
    # a window missing as often as training: no change; twice as often: act
    numeric = Reference.from_dict(ref, subject="t").features["income"]
    assert isinstance(numeric, NumericReference)
    window = encoder.apply(income[train])
    same = numeric_drift(numeric, window, CONFIG, raw_missing=expected)
    assert same.value("missing_change") == 0.0 and same.metric("missing_change").level == "stable"
    worse = numeric_drift(numeric, window, CONFIG, raw_missing=2 * expected)
    assert worse.metric("missing_change").level == "act"


def test_logged_json_is_decoded_by_column_on_first_use() -> None:
    from appliance.monitoring.predictions import Logged

    window = window_of("day", "2025-03-01")
    features = ['{"a": 1, "b": "x"}', '{"b": null, "c": 2.5}', "[1, 2]", None, '"text"']
    logged = Logged("m", 1, window, ["r1", "r2", "r3", "r4", "r5"], ["production"] * 5,
                    ["2025-03-01"] * 5, [None] * 5, [None] * 5,
                    input_json=['{"region": "north"}', "{not json", None, "{}", "7"],
                    features_json=features, probability=np.full(5, 0.5))  # fmt: skip
    assert "features" not in vars(logged)  # nothing decoded yet
    assert logged.features == {"a": [1, None, None, None, None],
                               "b": ["x", None, None, None, None],
                               "c": [None, 2.5, None, None, None]}  # fmt: skip
    # a broken row (the log's CHECK keeps these out) costs only itself: {}
    assert logged.inputs == [{"region": "north"}, {}, {}, {}, {}]
