"""Section 5 of the model card: concerns read from this run's numbers, and fixed caveats."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Bullets, Heading, Para, Section
from appliance.reports._performance import auc_interval, backtest_exists, calibration_error

__all__ = ["findings", "limitations_section"]

SMALL_TEST_ROWS, SMALL_TEST_POSITIVES = 1000, 100
OVERFIT_GAP = 0.05
BASELINE_MARGIN = 0.01
PSI_WATCH = 0.1
RATE_SHIFT = 0.3
"""Relative change of the positive rate from train to test worth a warning."""
CALIBRATION_GAP = 0.05
CALIBRATION_Z = 3.0
"""A bin is off when its gap exceeds both the gap above and this many standard errors."""
MISSING_HIGH = 0.3


def limitations_section(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> Section:
    found = findings(metrics, card)
    blocks: list[Block] = [Heading("Findings from this run")]
    if found:
        blocks.append(Bullets(tuple(found)))
    else:
        blocks.append(
            Para(
                "The automatic checks (test size, over-fitting, margin over the "
                "baseline, backtest, score drift, target shift, calibration, "
                "missing values, fairness) found nothing to report."
            )
        )
    fixed = [
        *(card.get("limitations") or []),
        "The future population is assumed to resemble the training periods; section 8 "
        "monitors this assumption.",
        "Outcomes are taken as recorded in the source data; label errors are not corrected.",
    ]
    blocks += [Heading("Assumptions and known limitations"), Bullets(tuple(fixed))]
    return Section(5, "Limitations and assumptions", tuple(blocks))


def findings(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> list[str]:
    """Plain-language concerns derived from the metrics; empty when all checks pass."""
    out = [*_sample(metrics), *_fit(metrics), *_stability(metrics), *_calibration(metrics)]
    out += _missing(card.get("features") or [])
    out += _fairness(metrics.get("fairness") or {})
    return out


def _sample(m: Mapping[str, Any]) -> list[str]:
    test = m.get("test") or {}
    n, positives = test.get("n"), test.get("positives")
    if n is None or positives is None:
        return ["No test metrics were recorded: performance is not evidenced."]
    if n >= SMALL_TEST_ROWS and positives >= SMALL_TEST_POSITIVES:
        return []
    half = auc_interval(test.get("roc_auc"), positives, n)
    spread = f"; its ROC AUC is uncertain by about ±{f.measure(half)}" if half else ""
    return [
        f"Small test set: {f.count(n)} rows with {f.count(positives)} positives{spread}. "
        "Differences smaller than that are not evidence."
    ]


def _fit(m: Mapping[str, Any]) -> list[str]:
    out = []
    train, test = m.get("train") or {}, m.get("test") or {}
    base = m.get("baseline_test") or {}
    if train.get("roc_auc") is not None and test.get("roc_auc") is not None:
        gap = train["roc_auc"] - test["roc_auc"]
        if gap > OVERFIT_GAP:
            out.append(
                f"Possible over-fitting: train ROC AUC {f.measure(train['roc_auc'])} "
                f"against test {f.measure(test['roc_auc'])} (gap {f.measure(gap)})."
            )
    if test.get("roc_auc") is not None and base.get("roc_auc") is not None:
        margin = test["roc_auc"] - base["roc_auc"]
        if margin < BASELINE_MARGIN:
            out.append(
                f"The model adds little over the logistic baseline: test ROC AUC "
                f"{f.measure(test['roc_auc'])} against {f.measure(base['roc_auc'])} "
                f"({f.signed(margin)}); the simpler model may be preferable."
            )
    champion = (m.get("champion") or {}).get("test") or {}
    production = champion.get("roc_auc")
    current = test.get("roc_auc")
    if production is not None and current is not None and current < production:
        out.append(
            f"Test ROC AUC {f.measure(current)} is below the production "
            f"model's {f.measure(production)} on the same rows."
        )
    old, new = train.get("positive_rate"), test.get("positive_rate")
    if old and new is not None and abs(new - old) / old > RATE_SHIFT:
        out.append(
            f"The positive rate moved from {f.pct(old, 2)} (train) to {f.pct(new, 2)} "
            "(test): the population or the outcome has shifted, and calibration "
            "may not hold."
        )
    return out


def _stability(m: Mapping[str, Any]) -> list[str]:
    back = m.get("backtest") or {}
    if not backtest_exists(m):
        return [
            "No backtest window: the model's stability after the test period is not "
            "evidenced; rely on early monitoring (section 8)."
        ]
    out = []
    if back.get("verdict") in ("watch", "unstable"):
        reasons = "; ".join(back.get("reasons") or [])
        out.append(f"Backtest verdict **{back['verdict']}**: {reasons}.")
    drift = back.get("psi")
    if drift is not None and drift > PSI_WATCH and back.get("verdict") == "stable":
        out.append(f"Population shift: score PSI {f.measure(drift)} between test and backtest.")
    return out


def _calibration(m: Mapping[str, Any]) -> list[str]:
    """Bins whose observed rate is both far from the prediction and beyond sampling noise."""
    rows = m.get("calibration") or []
    off = []
    for r in rows:
        gap, p, n = abs(r["observed_rate"] - r["mean_predicted"]), r["mean_predicted"], r["n"]
        noise = math.sqrt(max(p * (1 - p), 1e-12) / n) if n else math.inf
        if gap > CALIBRATION_GAP and gap > CALIBRATION_Z * noise:
            off.append(gap)
    if not off:
        return []
    error = calibration_error(rows) or (0.0, 0.0)
    return [
        f"Probabilities are off by up to {f.measure(100 * max(off), 1)} percentage points "
        f"in {len(off)} score bin(s), beyond sampling noise (expected calibration error "
        f"{f.pct(error[0], 2)}): use the score to rank, or recalibrate before reading it "
        "as a probability."
    ]


def _missing(features: list[Mapping[str, Any]]) -> list[str]:
    high = [x for x in features if (x.get("missing_rate") or 0.0) > MISSING_HIGH]
    if not high:
        return []
    names = ", ".join(f"`{x['name']}` ({f.pct(x['missing_rate'], 0)})" for x in high)
    return [
        f"Features missing for many rows: {names}. The model learns a default for "
        "missingness, which may not carry to other populations."
    ]


def _fairness(report: Mapping[str, Any]) -> list[str]:
    out = []
    failed = [a["attribute"] for a in report.get("attributes") or [] if not a.get("passed")]
    if failed:
        out.append(f"Fairness tests failed for {', '.join(f'`{a}`' for a in failed)} (section 6).")
    unassessed = [a["attribute"] for a in report.get("attributes") or [] if not a.get("assessable")]
    if unassessed:
        out.append(
            f"Fairness could not be assessed for "
            f"{', '.join(f'`{a}`' for a in unassessed)}: too few rows per group."
        )
    return out
