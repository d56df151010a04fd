"""Section 6 of the model card: disparate impact and equal opportunity per attribute."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Bullets, Facts, Figure, Heading, Para, Section, table

__all__ = ["fairness_section", "fairness_verdict"]


def fairness_verdict(report: Mapping[str, Any]) -> str:
    """``passed``, ``failed`` or ``not assessed`` (no attribute could be tested)."""
    attributes = report.get("attributes") or []
    if not any(a.get("assessable") for a in attributes):
        return "not assessed"
    return "passed" if report.get("passed") else "failed"


def fairness_section(metrics: Mapping[str, Any]) -> Section:
    report = metrics.get("fairness") or {}
    attributes = report.get("attributes") or []
    if not attributes:
        text = (
            "No protected attributes were declared for this use case, so fairness was not "
            "tested. **Fairness verdict: not assessed.**"
        )
        return Section(6, "Fairness", (Para(text),))
    favourable = (
        "being flagged" if report.get("favourable") == "flagged" else "approval (not being flagged)"
    )
    blocks: list[Block] = [
        Para(
            f"The favourable decision is {favourable}, at threshold "
            f"{f.threshold(report.get('threshold'))} on the test rows. Per attribute, the "
            f"disparate impact ratio (lowest over highest favourable rate) must be at least "
            f"{f.param(report.get('di_floor'))} (the four-fifths rule) and the equal "
            f"opportunity difference (gap in favourable rate among deserving rows, whose true "
            f"outcome matches the favourable decision) at most "
            f"{f.param(report.get('eo_tolerance'))}. Groups under "
            f"{f.count(report.get('min_group_size'))} rows are reported but not assessed."
        ),
        Para(f"**Fairness verdict: {fairness_verdict(report)}.**"),
    ]
    for attribute in attributes:
        blocks += _attribute(attribute, report)
    blocks.append(Figure("fairness", "Favourable rate per group, with the four-fifths line"))
    return Section(6, "Fairness", tuple(blocks))


def _attribute(a: Mapping[str, Any], report: Mapping[str, Any]) -> list[Block]:
    def verdict(ok: bool) -> str:
        return "pass" if ok else "fail"

    assessable = a.get("assessable")
    facts = (
        (
            "Disparate impact ratio",
            f"{f.measure(a.get('disparate_impact_ratio'))} against "
            f"{f.param(report.get('di_floor'))}: {verdict(a.get('four_fifths_pass', True))}",
        ),
        (
            "Equal opportunity difference",
            f"{f.measure(a.get('equal_opportunity_difference'))} "
            f"against {f.param(report.get('eo_tolerance'))}: {verdict(a.get('eo_pass', True))}",
        ),
        ("Result", verdict(a.get("passed", True)) if assessable else "not assessable"),
    )
    rows = [
        (
            str(g["group"]),
            f.count(g["n"]),
            f.pct(g["favourable_rate"]),
            f.pct(g.get("tpr")),
            f.pct(g.get("fpr")),
            f.count(g.get("deserving_n")),
            f.pct(g.get("deserving_favourable_rate")),
            "yes" if g.get("eligible") else "no (small)",
        )
        for g in a.get("groups") or []
    ]
    headers = (
        "Group",
        "Rows",
        "Favourable rate",
        "TPR",
        "FPR",
        "Deserving rows",
        "Deserving favourable rate",
        "Assessed",
    )
    return [
        Heading(f"Attribute `{a.get('attribute')}`"),
        Facts(facts),
        table(headers, rows, (False,) + (True,) * 6 + (False,)),
        Bullets(tuple(a.get("notes") or ())),
    ]
