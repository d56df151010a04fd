"""Regression use cases: an amount (the premium to suggest) through the same life cycle as
the classifiers: spec checks, training against a ridge baseline, the model card, compile
with relative parity, promotion gates, serving with reasons, the prediction log."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from appliance.errors import SchemaError
from appliance.evaluation.regression import error_by_group, regression_summary
from appliance.features.pipeline import target_of
from appliance.home import DataHome
from appliance.registry.gates import performance_gate
from appliance.store.db import connect
from appliance.training.baseline import RidgeBaseline
from appliance.usecase.checks import check_training_window
from appliance.usecase.parse import parse_spec
from tests.lake_fixtures import build_demo_lake
from tests.serving_fixtures import Running, predictions, score_logged

USECASE = "insurance_premium"
SPEC = {
    "name": USECASE, "task": "regression",
    "population": {"dataset": "d", "id": "id", "target": "amount"},
    "features": [{"column": "x"}], "split": {"policy": "random"},
}  # fmt: skip


def _spec(**changes: Any) -> Any:
    data = json.loads(json.dumps(SPEC))
    for key, value in changes.items():
        data[key] = value
    return parse_spec(data, origin="premium.toml")


# -- the spec and the target: refused before training, named ---------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"training": {"metric": "roc_auc"}},
     "training.metric: 'roc_auc' is a classification metric, and this use case's task is "
     "regression"),
    ({"threshold": {"policy": "max_fbeta"}}, "threshold: a regression predicts an amount"),
    ({"task": "ranking"}, "task: 'ranking' is not one of classification, regression"),
    ({"task": ["regression"]}, "task: ['regression'] is not one of"),
])  # fmt: skip
def test_a_spec_that_mixes_up_the_task_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=r"premium\.toml") as caught:
        _spec(**changes)
    assert message in str(caught.value)


def test_a_classifier_asking_for_a_regression_metric_is_refused() -> None:
    with pytest.raises(SchemaError, match="'rmse' is a regression metric"):
        _spec(task="classification", training={"metric": "rmse"})


def test_the_default_regression_metric_is_rmse() -> None:
    spec = _spec()
    assert spec.is_regression and spec.training.metric == "rmse"


def test_a_non_numeric_target_is_refused_naming_the_row() -> None:
    table = pa.table({"amount": ["120.5", "", "ninety", "80"]})
    with pytest.raises(SchemaError, match=r"'amount'.*must be numeric; row 3 holds 'ninety'"):
        target_of(_spec(), table)


def test_a_target_read_as_numbers_keeps_missing_as_nan() -> None:
    values = target_of(_spec(), pa.table({"amount": ["120.5", " ", None, "80"]}))
    assert values[0] == 120.5 and values[3] == 80 and np.isnan(values[1:3]).all()
    values = target_of(_spec(), pa.table({"amount": pa.array([3, None, 5], pa.int64())}))
    assert values[0] == 3 and np.isnan(values[1])


def test_a_target_with_one_value_everywhere_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"one value \(42\) on every training row"):
        check_training_window(_spec(), np.full(50, 42.0), np.arange(50))


# -- pure parts against their references -----------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 60),  # amounts: zero, or at least a cent
              elements=st.floats(-1e4, 1e4).filter(lambda v: v == 0 or abs(v) >= 0.01)),
       st.integers(0, 2**31))  # fmt: skip
def test_regression_metrics_match_scikit_learn(y: np.ndarray, seed: int) -> None:
    from sklearn import metrics

    p = y + np.random.default_rng(seed).normal(0, 10, y.size)
    got = regression_summary(y, p)
    assert got is not None
    assert math.isclose(got["rmse"], math.sqrt(metrics.mean_squared_error(y, p)), rel_tol=1e-9)
    assert math.isclose(got["mae"], metrics.mean_absolute_error(y, p), rel_tol=1e-9)
    if np.ptp(y) > 0:
        assert math.isclose(got["r2"], metrics.r2_score(y, p), rel_tol=1e-7, abs_tol=1e-9)
    else:
        assert got["r2"] is None
    nonzero = y != 0
    if nonzero.any():
        want = metrics.mean_absolute_percentage_error(y[nonzero], p[nonzero])
        assert math.isclose(got["mape"], want, rel_tol=1e-9)


def test_the_ridge_baseline_matches_scikit_learn() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300).astype(float)])
    y = 3 * x[:, 0] + np.array([0.0, 5.0, -2.0])[x[:, 1].astype(int)] + rng.normal(size=300)
    ours = RidgeBaseline.fit(x, y, ["q", "c"], [1, 3], l2=2.0)
    design = np.column_stack([x[:, 0], x[:, 1] == 1, x[:, 1] == 2]).astype(float)
    z = (design - design.mean(0)) / design.std(0)
    theirs = Ridge(alpha=2.0).fit(z, y)
    assert np.allclose(ours.predict(x), theirs.predict(z), atol=1e-9)


def test_a_group_that_is_systematically_overquoted_fails_the_group_check() -> None:
    rng = np.random.default_rng(5)
    y = rng.uniform(500, 1500, 400)
    groups = np.where(np.arange(400) < 200, "young", "old")
    fair = error_by_group(y, y + rng.normal(0, 20, 400), {"age_band": groups})
    assert fair["passed"] and not fair["flagged"]
    unfair = error_by_group(y, y + np.where(groups == "young", 250.0, 0.0),
                            {"age_band": groups})  # fmt: skip
    assert not unfair["passed"] and unfair["flagged"][0].startswith("age_band=young")
    assert unfair["attributes"][0]["groups"]["old"]["passed"]


def test_error_gates_compare_relative_to_the_champion() -> None:
    metrics = {"optimise": "rmse", "test": {"rmse": 1010.0}, "promotion": {"tolerance": 0.02},
               "champion": {"version": 1, "test": {"rmse": 1000.0}}}  # fmt: skip
    assert performance_gate(metrics, 1).passed  # 1 % worse, 2 % allowed
    metrics["test"] = {"rmse": 1030.0}
    gate = performance_gate(metrics, 1)
    assert not gate.passed and "worse than production" in gate.detail


# -- the whole life cycle on the demo lake ---------------------------------------------


@pytest.fixture(scope="module")
def premium(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataHome, Any]:
    from appliance.registry import promote
    from appliance.training.run import train_usecase
    from appliance.usecase.locate import locate_spec

    home = build_demo_lake(tmp_path_factory.mktemp("premium") / "home")
    # a smaller search than the shipped spec's, so that the compile stays quick
    shipped = locate_spec(home, USECASE)
    text = Path(shipped.origin).read_text().replace("trials = 6", "trials = 2\nmax_rounds = 120")
    (home.dir("usecases") / f"{USECASE}.toml").write_text(text)
    db = connect(home.db_path)
    outcome = train_usecase(home, db, locate_spec(home, USECASE), actor="test")
    promote(db, USECASE, outcome.version.version, actor="test", reason="test",
            override_fairness="test")  # fmt: skip
    db.close()
    return home, outcome


@pytest.mark.slow
def test_training_reports_errors_against_the_baseline(premium: tuple[DataHome, Any]) -> None:
    home, outcome = premium
    m = outcome.metrics
    assert m["task"] == "regression" and m["optimise"] == "rmse"
    for part in ("train", "validation", "test", "baseline_test"):
        assert m[part]["rmse"] >= m[part]["mae"] > 0
    assert m["test"]["n"] == sum(band["n"] for band in m["bands"])
    assert {"passed", "attributes"} <= set(m["fairness"])
    folder = home.inside(outcome.version.booster_path).parent
    card = (folder / "model_card.md").read_text()
    assert "Test RMSE" in card and "Errors by prediction band" in card
    assert "ROC" not in card and "positive rate" not in card.lower()
    assert "Test RMSE" in (folder / "model_card.html").read_text()
    for plot in ("predicted_actual", "residuals", "bands", "group_errors"):
        assert (folder / f"{plot}.png").stat().st_size > 1000


@pytest.mark.slow
def test_the_compiled_library_matches_xgboost_relative_to_the_amount(
    premium: tuple[DataHome, Any],
) -> None:
    compiled = premium[1].version.compile
    assert compiled["status"] == "ok", compiled["reason"]
    assert compiled["parity"]["relative"] and compiled["parity"]["max_abs_diff"] <= 1e-5


@pytest.mark.slow
def test_serving_returns_the_amount_with_the_features_that_moved_it(
    premium: tuple[DataHome, Any],
) -> None:
    import xgboost as xgb

    from appliance.features.pipeline import FeaturePipeline
    from appliance.lake import read_dataset
    from appliance.registry import resolve

    home = premium[0]
    db = connect(home.db_path)
    offers = read_dataset(home, db, "bank_insurance_conversion").slice(0, 3)
    version = resolve(db, USECASE, "production")
    db.close()
    running = Running(home)
    try:
        bodies = []
        for row in offers.drop_columns(["converted", "annual_premium"]).to_pylist():
            record = {k: str(v) for k, v in row.items()}
            reply = running.call("POST", f"/v1/models/{USECASE}/score", json=record)
            assert reply.status_code == 200, reply.text
            bodies.append(reply.json())
    finally:
        running.stop()
    folder = home.inside(version.booster_path).parent
    booster = xgb.Booster(model_file=str(folder / "model.ubj"))
    pipeline = FeaturePipeline.load(folder / "feature_pipeline.json")
    from appliance.features.sources import LakeSources

    db = connect(home.db_path)
    x = pipeline.transform(offers, LakeSources(home, db))
    db.close()
    want = booster.inplace_predict(x)
    for body, expected in zip(bodies, want, strict=True):
        assert body["kind"] == "regression" and "probability" not in body
        assert body["prediction"] == pytest.approx(float(expected), rel=1e-5)
        moved = [abs(r["contribution"]) for r in body["reasons"]]
        assert 1 <= len(moved) <= 4 and moved == sorted(moved, reverse=True)
        assert all(r["text"] for r in body["reasons"])
    logged = [row for row in predictions(home) if row["model"] == USECASE]
    assert len(logged) == 3
    assert all(row["kind"] == "regression" and row["probability"] is None for row in logged)
    assert sorted(row["prediction"] for row in logged) == pytest.approx(
        sorted(b["prediction"] for b in bodies))  # fmt: skip


def score_offers(home: DataHome, db: Any, *, start: int, count: int) -> list[dict[str, Any]]:
    """Premium answers for ``count`` of the demo's offers from ``start``, logged."""
    from appliance.lake import read_dataset

    offers = read_dataset(home, db, "bank_insurance_conversion").slice(start, count)
    return score_logged(home, db, USECASE, offers.drop_columns(["converted"]))


@pytest.mark.slow
def test_monitoring_a_regression_measures_feature_drift_and_realised_errors(
    premium: tuple[DataHome, Any],
) -> None:
    from appliance.monitoring import measure_drift, measure_performance
    from appliance.monitoring.config import MonitoringConfig
    from appliance.usecase.locate import locate_spec

    home = premium[0]
    db = connect(home.db_path)
    answers = score_offers(home, db, start=0, count=60)
    assert all(a["kind"] == "regression" for a in answers)
    spec = locate_spec(home, USECASE)
    config = MonitoringConfig(min_rows=20)
    drift = measure_drift(home, db, spec, config)
    assert drift.drift and drift.drift[0].features and drift.drift[0].score is None
    before = measure_performance(home, db, spec, config)
    assert any("have their actual amount" in note for note in before.notes)

    # the actual premiums arrive; a classifier's 0/1 is refused for this model, named
    from appliance.serving.outcomes import record_outcomes

    actual = [120.0 + 3 * i for i in range(len(answers))]
    items = [{"request_id": a["request_id"], "actual": amount}
             for a, amount in zip(answers, actual, strict=True)]  # fmt: skip
    report = record_outcomes(db, [*items, {"request_id": answers[0]["request_id"],
                                           "outcome": 1}], key_id=None, actor="t")  # fmt: skip
    assert report.inserted == len(answers)
    assert [r.to_dict() for r in report.rejected] == [{
        "index": len(answers), "field": "outcome",
        "reason": "'insurance_premium' is a regression: give actual, the amount observed"}]
    after = measure_performance(home, db, spec, config)
    figures = {f.metric: f for f in after.performance[0].figures}
    errors = np.array([a["prediction"] for a in answers]) - np.array(actual)
    assert figures["rmse"].value == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-4)
    assert figures["mae"].value == pytest.approx(np.mean(np.abs(errors)), rel=1e-4)
    assert figures["rmse"].level == "act"  # actuals far below what the model predicts
    db.close()


@pytest.mark.slow
def test_a_regressions_answers_and_actuals_are_published_with_their_kind(
    premium: tuple[DataHome, Any],
) -> None:
    from appliance.serving.outcomes import record_outcomes
    from connectors.publisher import publish
    from tests.test_connectors_publish import read_hyper

    home = premium[0]
    db = connect(home.db_path)
    answers = score_offers(home, db, start=100, count=10)
    record_outcomes(db, [{"request_id": a["request_id"], "actual": 1000.0} for a in answers],
                    key_id=None, actor="t")  # fmt: skip
    publish(home, db, full=True)
    db.close()
    mine = ", ".join(f"'{a['request_id']}'" for a in answers)
    rows = read_hyper(home.dir("publish") / "scores.hyper",
                      'SELECT "kind", "prediction", "probability", "actual" FROM'
                      f' "Extract"."scores" WHERE "request_id" IN ({mine})')  # fmt: skip
    assert len(rows) == len(answers)
    predicted = sorted(a["prediction"] for a in answers)
    assert sorted(r[1] for r in rows) == pytest.approx(predicted)
    assert all(r[0] == "regression" and r[2] is None and r[3] == 1000.0 for r in rows)
