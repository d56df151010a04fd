"""Section 4 of the model card: how well the model ranks, calibrates and decides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Bullets, Facts, Figure, Heading, Para, Section, table

__all__ = ["METRICS", "auc_interval", "calibration_error", "performance_section"]

METRICS = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC (average precision)"),
    ("ks", "KS"),
    ("log_loss", "Log loss"),
    ("brier", "Brier score"),
)
LOWER_IS_BETTER = ("log_loss", "brier")


def performance_section(metrics: Mapping[str, Any]) -> Section:
    blocks: list[Block] = [
        *_headline(metrics),
        *_calibration(metrics.get("calibration") or []),
        *_threshold(metrics),
        *_lift(metrics),
        *_business(metrics.get("business") or {}),
        *_backtest(metrics),
        *_champion(metrics),
    ]
    return Section(4, "Performance", tuple(blocks))


def auc_interval(auc: float | None, positives: int | None, n: int | None) -> float | None:
    """Half-width of a 95% interval for an AUC (Hanley and McNeil, 1982); None if unknown."""
    if auc is None or not positives or not n or positives >= n:
        return None
    negatives = n - positives
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return 1.96 * math.sqrt(max(var, 0.0))


def calibration_error(rows: list[Mapping[str, Any]]) -> tuple[float, float] | None:
    """(expected calibration error weighted by rows, largest gap of any bin), or None."""
    total = sum(r["n"] for r in rows)
    if not total:
        return None
    gaps = [abs(r["observed_rate"] - r["mean_predicted"]) for r in rows]
    return sum(g * r["n"] for g, r in zip(gaps, rows, strict=True)) / total, max(gaps)


def _headline(m: Mapping[str, Any]) -> list[Block]:
    test, base = m.get("test") or {}, m.get("baseline_test") or {}
    parts = {p: m.get(p) or {} for p in ("train", "validation", "backtest_metrics")}
    rows = []
    for key, label in METRICS:
        delta = None
        if test.get(key) is not None and base.get(key) is not None:
            delta = test[key] - base[key]
        rows.append(
            (
                label,
                f.measure(test.get(key)),
                f.measure(base.get(key)),
                f.signed(delta),
                *(f.measure(s.get(key)) for s in parts.values()),
            )
        )
    headers = (
        "Metric",
        "Model (test)",
        "Baseline (test)",
        "Model − baseline",
        "Train",
        "Validation",
        "Backtest",
    )
    blocks: list[Block] = [
        Heading("Test metrics, model against baseline"),
        table(headers, rows),
        Para(
            "Higher is better for ROC AUC, PR AUC and KS; lower for log loss and Brier score. "
            f"Test set: {f.count(test.get('n'))} rows, {f.count(test.get('positives'))} positives "
            f"({f.pct(test.get('positive_rate'), 2)})."
        ),
    ]
    half = auc_interval(test.get("roc_auc"), test.get("positives"), test.get("n"))
    if half is not None:
        low, high = test["roc_auc"] - half, min(1.0, test["roc_auc"] + half)
        blocks.append(
            Para(
                f"Test ROC AUC {f.measure(test['roc_auc'])}, 95% interval about "
                f"{f.measure(low)} to {f.measure(high)} (Hanley–McNeil)."
            )
        )
    blocks += [
        Figure("roc", "ROC curve, model and baseline"),
        Figure("pr", "Precision–recall curve, model and baseline"),
    ]
    return blocks


def _calibration(rows: list[Mapping[str, Any]]) -> list[Block]:
    blocks: list[Block] = [Heading("Calibration")]
    error = calibration_error(rows)
    if error is None:
        return [*blocks, Para("No calibration table was recorded.")]
    blocks.append(
        Para(
            f"Observed positive rate against mean predicted probability in "
            f"{len(rows)} equal-frequency bins of the test scores. Expected calibration "
            f"error {f.pct(error[0], 2)}; largest bin gap {f.pct(error[1], 2)}."
        )
    )
    body = [
        (
            str(i),
            f"{f.threshold(r['low'])} – {f.threshold(r['high'])}",
            f.count(r["n"]),
            f.pct(r["mean_predicted"], 2),
            f.pct(r["observed_rate"], 2),
            f.signed(100 * (r["observed_rate"] - r["mean_predicted"]), 2) + " pp",
        )
        for i, r in enumerate(rows, 1)
    ]
    headers = ("Bin", "Score range", "Rows", "Mean predicted", "Observed", "Gap")
    blocks += [table(headers, body), Figure("calibration", "Reliability diagram")]
    return blocks


def _threshold(m: Mapping[str, Any]) -> list[Block]:
    t = m.get("threshold") or {}
    if not t:
        return [Heading("Threshold and confusion matrix"), Para("No threshold was recorded.")]
    label = m.get("positive_label") or "positive"
    blocks: list[Block] = [
        Heading("Threshold and confusion matrix"),
        Facts(
            (
                ("Threshold", f.threshold(t.get("value"))),
                ("Policy", t.get("policy") or f.DASH),
                ("Precision", f.pct(t.get("precision"))),
                ("Recall", f.pct(t.get("recall"))),
                ("F1", f.measure(t.get("f1"))),
                ("F2", f.measure(t.get("f2"))),
                ("Approval rate", f.pct(t.get("approval_rate"))),
                ("Flagged rate", f.pct(t.get("flagged_rate"))),
            )
        ),
        table(
            ("Test rows", "Flagged", "Not flagged"),
            (
                (f"Actual {label}", f.count(t.get("tp")), f.count(t.get("fn"))),
                (f"Actual not {label}", f.count(t.get("fp")), f.count(t.get("tn"))),
            ),
        ),
        Figure("confusion", "Confusion matrix at the chosen threshold"),
        Figure("score_distribution", "Test scores by outcome, with the threshold"),
    ]
    alternatives = m.get("threshold_table") or []
    if alternatives:
        blocks += [
            Heading("Alternative thresholds"),
            table(
                ("Threshold", "Flagged", "Approved", "Precision", "Recall", "F1", "F2", "FPR"),
                [
                    (
                        f.threshold(r["threshold"]),
                        f.pct(r["flagged_rate"]),
                        f.pct(r["approval_rate"]),
                        f.pct(r["precision"]),
                        f.pct(r["recall"]),
                        f.measure(r["f1"]),
                        f.measure(r["f2"]),
                        f.pct(r["fpr"]),
                    )
                    for r in alternatives
                ],
            ),
        ]
    return blocks


def _lift(m: Mapping[str, Any]) -> list[Block]:
    lift, deciles = m.get("lift") or [], m.get("deciles") or []
    blocks: list[Block] = [Heading("Lift and capture")]
    if lift:
        blocks.append(
            table(
                ("Top share", "Rows", "Lowest score", "Positives", "Rate", "Lift", "Capture"),
                [
                    (
                        f.pct(r["share"], 0),
                        f.count(r["rows"]),
                        f.threshold(r["min_p"]),
                        f.count(r["positives"]),
                        f.pct(r["rate"]),
                        f.measure(r["lift"], 2),
                        f.pct(r["capture_rate"]),
                    )
                    for r in lift
                ],
            )
        )
    if deciles:
        blocks.append(
            table(
                ("Decile (1 = highest scores)", "Rows", "Positives", "Rate", "Mean score", "Lift"),
                [
                    (
                        str(r["bucket"]),
                        f.count(r["n"]),
                        f.count(r["positives"]),
                        f.pct(r["rate"]),
                        f.pct(r["mean_p"]),
                        f.measure(r["lift"], 2),
                    )
                    for r in deciles
                ],
            )
        )
    if not (lift or deciles):
        blocks.append(Para("No lift table was recorded."))
    blocks.append(Figure("lift", "Lift by decile and cumulative capture"))
    return blocks


_BUSINESS = (
    ("approved", "Approved (test rows)", f.count),
    ("declined", "Declined (test rows)", f.count),
    ("approval_rate", "Approval rate", f.pct),
    ("observed_bad_rate_approved", "Observed bad rate among approved", f.pct),
    ("expected_bad_rate_approved", "Expected bad rate among approved (mean score)", f.pct),
    ("observed_bad_rate_declined", "Observed bad rate among declined", f.pct),
    ("expected_bad_rate_declined", "Expected bad rate among declined (mean score)", f.pct),
    ("overall_bad_rate", "Overall bad rate", f.pct),
)


def _business(b: Mapping[str, Any]) -> list[Block]:
    if not b:
        return []
    items = tuple((label, fmt(b.get(key))) for key, label, fmt in _BUSINESS if key in b)
    return [
        Heading("Business metrics at the threshold"),
        Para("“Bad” is the positive class; approved rows are those not flagged."),
        Facts(items),
    ]


def backtest_exists(m: Mapping[str, Any]) -> bool:
    back = m.get("backtest") or {}
    return bool(back.get("periods")) and back.get("verdict") != "none"


def _backtest(m: Mapping[str, Any]) -> list[Block]:
    back = m.get("backtest") or {}
    blocks: list[Block] = [Heading("Backtest")]
    if not backtest_exists(m):
        why = "; ".join(back.get("reasons") or [])
        return [
            *blocks,
            Para(
                "No backtest window: stability over time after the test period "
                "has not been demonstrated" + (f" ({why})." if why else ".")
            ),
        ]
    blocks += [
        Para(f"Stability verdict: **{back.get('verdict')}**."),
        Bullets(tuple(back.get("reasons") or ())),
        Facts(
            (
                ("Period", str(back.get("period"))),
                ("Rows", f.count(back.get("n"))),
                ("Positives", f.count(back.get("positives"))),
                ("Window ROC AUC", f.measure(back.get("auc"))),
                ("Test ROC AUC (reference)", f.measure(back.get("reference_auc"))),
                ("Score PSI against test", f.measure(back.get("psi"))),
            )
        ),
        table(
            (
                "Period from",
                "Rows",
                "Positives",
                "Positive rate",
                "ROC AUC",
                "Mean score",
                "p10",
                "p50",
                "p90",
            ),
            [
                (
                    p["start"],
                    f.count(p["n"]),
                    f.count(p.get("positives")),
                    f.pct(p.get("positive_rate"), 2),
                    f.measure(p.get("auc")),
                    f.pct(p["mean_p"], 2),
                    f.pct(p["p10"], 2),
                    f.pct(p["p50"], 2),
                    f.pct(p["p90"], 2),
                )
                for p in back["periods"]
            ],
        ),
        Figure("backtest", "ROC AUC and score percentiles per period"),
    ]
    return blocks


def _champion(m: Mapping[str, Any]) -> list[Block]:
    champion = m.get("champion")
    blocks: list[Block] = [Heading("Comparison with the production model")]
    if not champion:
        return [*blocks, Para("No model of this name is in production: nothing to compare with.")]
    test, prod = m.get("test") or {}, champion.get("test") or {}
    rows = []
    for key, label in METRICS:
        delta = None if test.get(key) is None or prod.get(key) is None else test[key] - prod[key]
        rows.append((label, f.measure(test.get(key)), f.measure(prod.get(key)), f.signed(delta)))
    version = champion.get("version")
    optimise = m.get("optimise") or "roc_auc"
    tolerance = (m.get("promotion") or {}).get("tolerance")
    blocks += [
        Para(f"Production version {version} re-scored on this run's test rows."),
        table(("Metric", "This model", f"Production v{version}", "Difference"), rows),
        Para(
            f"Promotion allows this model to be at most {f.param(tolerance)} worse than "
            f"production on `{optimise}`."
        ),
    ]
    return blocks
