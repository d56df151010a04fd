"""Sections 7 to 9 of the model card: explanations, monitoring plan and approvals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Bullets, Figure, Heading, Para, Section, table

__all__ = [
    "PSI_ACT",
    "PSI_WATCH",
    "approvals_section",
    "explanations_section",
    "monitoring_section",
]

PSI_WATCH, PSI_ACT = 0.1, 0.25
SIGN_OFF_ROLES = ("Model owner", "Model risk / validation", "Business approver")


def explanations_section(metrics: Mapping[str, Any], shap_rows: int) -> Section:
    importance = metrics.get("importance") or []
    blocks: list[Block] = [
        Para(
            "Global importance: each feature's share of the total split gain in the booster, "
            "and its mean absolute SHAP value (log-odds) over "
            f"{f.count(shap_rows)} sampled test rows. Rows are ordered by mean |SHAP|."
        ),
    ]
    if importance:
        rows = [
            (
                str(i),
                f"`{r['feature']}`",
                f.measure(r.get("mean_abs_shap"), 4),
                f.pct(r.get("gain")),
            )
            for i, r in enumerate(importance, 1)
        ]
        blocks.append(
            table(("Rank", "Feature", "Mean |SHAP|", "Gain share"), rows, (True, False, True, True))
        )
    else:
        blocks.append(Para("No importance table was recorded."))
    blocks += [
        Figure("shap_summary", "SHAP summary: each point a test row, coloured by feature value"),
        Figure("importance", "Gain share and mean |SHAP| per feature"),
        Heading("Reason codes"),
        Para(
            "Reason codes for individual decisions come from exact TreeSHAP contributions of "
            "the serving model itself (the booster whose SHA-256 heads this card), not from "
            "a surrogate, so each reason matches the score it explains exactly."
        ),
    ]
    return Section(7, "Explanations", tuple(blocks))


def monitoring_section(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> Section:
    period = (metrics.get("backtest") or {}).get("period") or "week"
    tolerance = (metrics.get("promotion") or {}).get("tolerance")
    protected = ", ".join(f"`{p}`" for p in card.get("protected") or []) or "none declared"
    items = (
        "Reference: the training feature distributions and the test score distribution are "
        "stored in the registry with this version; every monitoring run compares against them.",
        f"Population stability: PSI on the score and CSI on every feature, per {period} of "
        f"scoring. Below {PSI_WATCH:g}: stable; {PSI_WATCH:g} to {PSI_ACT:g}: watch and "
        f"investigate; above {PSI_ACT:g}: act — review, recalibrate or retrain.",
        (
            "Realised performance: once actual amounts arrive, RMSE, MAE and mean error on the "
            "scored population, against the test values of section 4"
            if metrics.get("task") == "regression"
            else "Realised performance: once outcomes mature, ROC AUC, calibration and bad rates "
            "at the threshold on the scored population, against the test values of section 4"
        )
        + (f" (tolerance {f.param(tolerance)})." if tolerance is not None else "."),
        f"Fairness: the section 6 tests rerun on realised outcomes for {protected}, at least "
        "quarterly and at every retraining.",
        "Any breach is recorded in the audit log and reported to model risk; a retrained "
        "version goes through the same card, gates and sign-off.",
    )
    return Section(8, "Monitoring plan", (Bullets(items),))


def approvals_section(card: Mapping[str, Any]) -> Section:
    gates = card.get("gates")
    blocks: list[Block] = [Heading("Promotion gates")]
    if gates:
        rows = [
            (g["name"], "passed" if g.get("passed") else "failed", g.get("detail") or "")
            for g in gates
        ]
        blocks.append(table(("Gate", "Status", "Detail"), rows, (False, False, False)))
    else:
        blocks.append(
            Para(
                "Promotion gates had not been evaluated when this card was written; "
                "they run on promotion and are recorded in the audit log."
            )
        )
    blocks += [
        Heading("Sign-off"),
        table(
            ("Role", "Name", "Date", "Decision"),
            [(role, "", "", "") for role in SIGN_OFF_ROLES],
            (False,) * 4,
        ),
    ]
    return Section(9, "Approvals", tuple(blocks))
