"""Evaluation of a binary classifier in numpy only: metrics, thresholds, lift, fairness.

Every function takes ``y`` (0/1 labels, 1 = the positive class: defaulted, fraud) and
``p`` (the predicted probability of the positive class); a row is *flagged* when
``p >= threshold`` and *approved* otherwise. Pure computation: results are numbers,
lists of dicts and frozen dataclasses with ``to_dict()``; rendering lives elsewhere.
"""

from appliance.evaluation.backtest import Backtest, PeriodStats, stability
from appliance.evaluation.business import business_metrics
from appliance.evaluation.fairness import (
    AttributeFairness,
    FairnessReport,
    GroupFairness,
    fairness_report,
)
from appliance.evaluation.lift import decile_table, lift_table
from appliance.evaluation.metrics import (
    MetricError,
    brier,
    calibration_table,
    ks,
    log_loss,
    pr_auc,
    pr_curve,
    psi,
    roc_auc,
    roc_curve,
    summary,
)
from appliance.evaluation.thresholds import (
    Confusion,
    ThresholdPolicy,
    choose_threshold,
    confusion,
    threshold_table,
)

__all__ = [
    "AttributeFairness",
    "Backtest",
    "Confusion",
    "FairnessReport",
    "GroupFairness",
    "MetricError",
    "PeriodStats",
    "ThresholdPolicy",
    "brier",
    "business_metrics",
    "calibration_table",
    "choose_threshold",
    "confusion",
    "decile_table",
    "fairness_report",
    "ks",
    "lift_table",
    "log_loss",
    "pr_auc",
    "pr_curve",
    "psi",
    "roc_auc",
    "roc_curve",
    "stability",
    "summary",
    "threshold_table",
]
