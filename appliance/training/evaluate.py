"""Everything a model-risk reviewer reads about one trained model, as one JSON-able dict.

The threshold is chosen on the validation part and then applied unchanged to the test
part, so the reported precision and recall are not tuned on the data they describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from appliance.evaluation import (
    ThresholdPolicy,
    business_metrics,
    calibration_table,
    choose_threshold,
    confusion,
    decile_table,
    fairness_report,
    lift_table,
    stability,
    summary,
    threshold_table,
)
from appliance.usecase.spec import UseCaseSpec

__all__ = ["evaluate", "evaluate_regression", "policy_of", "safe_summary", "threshold_metrics"]


def policy_of(spec: UseCaseSpec) -> ThresholdPolicy:
    t = spec.threshold
    return ThresholdPolicy(
        kind=t.policy, beta=t.beta, recall_floor=t.recall_floor, approval_rate=t.approval_rate
    )


def safe_summary(y: np.ndarray, p: np.ndarray) -> dict[str, Any] | None:
    """Summary metrics, or None for a part with no rows or a single class."""
    if y.size == 0 or np.unique(y).size < 2:
        return None
    return summary(y, p)


def threshold_metrics(y: np.ndarray, p: np.ndarray, threshold: float, policy: str) -> dict:
    c = confusion(y, p, threshold)
    return {
        "value": float(threshold), "policy": policy, "tp": c.tp, "fp": c.fp, "tn": c.tn,
        "fn": c.fn, "precision": c.precision, "recall": c.recall, "f1": c.f1, "f2": c.f2,
        "approval_rate": c.approval_rate, "flagged_rate": c.flagged_rate,
    }  # fmt: skip


def evaluate(
    spec: UseCaseSpec,
    parts: Mapping[str, tuple[np.ndarray, np.ndarray]],
    baseline_test: np.ndarray,
    groups: Mapping[str, np.ndarray],
    backtest_dates: np.ndarray | None,
) -> dict[str, Any]:
    """``parts`` maps train/validation/test/backtest to (y, p) of the candidate model."""
    y_valid, p_valid = parts["validation"]
    y_test, p_test = parts["test"]
    policy = policy_of(spec)
    threshold = choose_threshold(y_valid, p_valid, policy)
    near = np.unique(np.clip(threshold + np.linspace(-0.1, 0.1, 9), 0.001, 0.999))
    y_back, p_back = parts["backtest"]
    backtest = stability(
        backtest_dates if backtest_dates is not None else np.empty(0, "datetime64[D]"),
        y_back, p_back, period=spec.backtest_period, reference_p=p_test,
        reference_auc=float(summary(y_test, p_test)["roc_auc"]),
        min_rows=min(200, max(50, y_back.size // 4)),
    )  # fmt: skip
    return {
        "usecase": spec.name,
        "model": spec.model_name,
        "optimise": spec.training.metric,
        "positive_label": spec.population.positive_label,
        "favourable": spec.population.favourable,
        **{name: safe_summary(*parts[name]) for name in ("train", "validation", "test")},
        "baseline_test": summary(y_test, baseline_test),
        "backtest_metrics": safe_summary(y_back, p_back),
        "calibration": calibration_table(y_test, p_test),
        "threshold": threshold_metrics(y_test, p_test, threshold, policy.describe()),
        "threshold_table": threshold_table(y_test, p_test, [float(t) for t in near]),
        "lift": lift_table(y_test, p_test, spec.lift_buckets),
        "deciles": decile_table(y_test, p_test),
        "business": business_metrics(y_test, p_test, threshold),
        "backtest": backtest.to_dict(),
        "fairness": fairness_report(
            y_test, p_test, threshold, groups, favourable=spec.population.favourable
        ).to_dict(),
        "promotion": {"tolerance": spec.tolerance, "auto": spec.auto_promote},
    }


def evaluate_regression(
    spec: UseCaseSpec,
    parts: Mapping[str, tuple[np.ndarray, np.ndarray]],
    baseline_test: np.ndarray,
    groups: Mapping[str, np.ndarray],
    backtest_dates: np.ndarray | None,
) -> dict[str, Any]:
    """The regression's metrics.json: errors per part and against the baseline, errors by
    prediction band and by protected group, and the backtest, in the shape the registry's
    gates read (``optimise``, ``test``, ``fairness.passed``, ``backtest.verdict``)."""
    from appliance.evaluation.regression import (
        error_by_band,
        error_by_group,
        regression_backtest,
        regression_summary,
    )

    y_test, p_test = parts["test"]
    test = regression_summary(y_test, p_test)
    y_back, p_back = parts["backtest"]
    dates = backtest_dates if backtest_dates is not None else np.empty(0, "datetime64[D]")
    return {
        "usecase": spec.name,
        "model": spec.model_name,
        "task": "regression",
        "target": spec.population.target,
        "optimise": spec.training.metric,
        **{name: regression_summary(*parts[name]) for name in ("train", "validation", "test")},
        "baseline_test": regression_summary(y_test, baseline_test),
        "backtest_metrics": regression_summary(y_back, p_back),
        "bands": error_by_band(y_test, p_test),
        "backtest": regression_backtest(
            dates,
            y_back,
            p_back,
            period=spec.backtest_period,
            reference_rmse=test["rmse"] if test else None,
            reference_p=p_test,
        ),
        "fairness": error_by_group(y_test, p_test, groups),
        "promotion": {"tolerance": spec.tolerance, "auto": spec.auto_promote},
    }
