"""Sections 1 to 3 of the model card: purpose, data and methodology."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Bullets, Facts, Heading, Para, Section, table

__all__ = ["data_section", "methodology_section", "purpose_section"]

PARTS = ("train", "validation", "test", "backtest")
_SEARCH_FIXED = ("seed", "nthread", "objective", "eval_metric", "tree_method")


def favourable_text(metrics: Mapping[str, Any]) -> str:
    if metrics.get("favourable") == "flagged":
        return "being flagged (selected, offered) is the favourable decision for the customer"
    return "approval (not being flagged) is the favourable decision for the customer"


def purpose_section(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> Section:
    target, label = card.get("target") or "target", metrics.get("positive_label") or "positive"
    protected = ", ".join(f"`{p}`" for p in card.get("protected") or []) or "none declared"
    amounts = metrics.get("task") == "regression"
    predicts = (f"Predicting anything other than `{target}`, or outside the range of amounts "
                "seen in training (section 2)." if amounts else
                f"Predicting anything other than `{target}` = {label}, or using the probability "
                "as a calibrated PD for capital or provisioning (IRB, IFRS 9) without a separate "
                "validation.")  # fmt: skip
    out_of_scope = card.get("out_of_scope") or [
        "Populations, products or channels not represented in the data of section 2, or "
        "periods well past it without the monitoring of section 8 showing stability.",
        predicts,
        "Adverse decisions without the reason codes of section 7 and the human review that "
        "credit policy requires.",
        f"Inferring or acting on protected attributes ({protected}); they are measured only "
        "to test fairness (section 6).",
    ]
    blocks: list[Block] = [
        Para(card.get("description") or f"Model `{card.get('model')}` for {card.get('usecase')}."),
        Facts(
            (
                ("Purpose", card.get("purpose") or f.DASH),
                ("Use case", f"`{card.get('usecase') or metrics.get('usecase')}`"),
                ("Owner", card.get("owner") or f.DASH),
                (
                    "Target",
                    f"`{target}`, an amount" if amounts else f"`{target}` = 1 means {label}",
                ),
                ("Decision", _decision_text(metrics)),
            )
        ),
        Heading("Intended use"),
        Bullets(
            (
                f"Scoring `{card.get('usecase')}` cases drawn from the population of section 2, "
                "offline on the appliance"
                + (" (an amount per case)." if amounts else ", with the threshold of section 4."),
                "Every score comes with reason codes (section 7) for adverse-action notices "
                "and review.",
            )
        ),
        Heading("Out-of-scope use"),
        Bullets(tuple(out_of_scope)),
    ]
    return Section(1, "Purpose and intended use", tuple(blocks))


def data_section(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> Section:
    split = metrics.get("split") or {}
    sizes, periods = split.get("sizes") or {}, split.get("periods") or {}
    blocks: list[Block] = [Heading("Sources"), _sources(card.get("datasets") or [])]
    blocks.append(Heading("Split"))
    blocks.append(Para(_split_text(split.get("policy"))))
    if metrics.get("task") == "regression":
        return _amount_data_section(metrics, card, blocks)
    rows = []
    for part in PARTS:
        s = _summary(metrics, part)
        rows.append(
            (
                part,
                f.count(sizes.get(part)),
                f.period(periods.get(part)),
                f.count(s.get("positives")),
                f.pct(s.get("positive_rate"), 2),
            )
        )
    blocks.append(
        table(
            ("Part", "Rows", "Period", "Positives", "Positive rate"),
            rows,
            (False, True, False, True, True),
        )
    )
    if split.get("unlabelled_dropped"):
        blocks.append(
            Para(
                f"{f.count(split['unlabelled_dropped'])} rows without an outcome "
                "were left out before splitting."
            )
        )
    target, label = card.get("target") or "target", metrics.get("positive_label") or "positive"
    train, test = _summary(metrics, "train"), _summary(metrics, "test")
    blocks += [
        Heading("Target"),
        Para(
            f"`{target}` = 1 means **{label}**. Positive rate: "
            f"{f.pct(train.get('positive_rate'), 2)} in train, "
            f"{f.pct(test.get('positive_rate'), 2)} in test."
        ),
    ]
    return Section(2, "Data", tuple(blocks))


def _decision_text(metrics: Mapping[str, Any]) -> str:
    if metrics.get("task") == "regression":
        return "none: the model suggests an amount, staff decide"
    return f"scores at or above the threshold are flagged; {favourable_text(metrics)}"


def _amount_data_section(
    metrics: Mapping[str, Any], card: Mapping[str, Any], blocks: list[Block]
) -> Section:
    split = metrics.get("split") or {}
    sizes, periods = split.get("sizes") or {}, split.get("periods") or {}
    rows = [
        (part, f.count(sizes.get(part)), f.period(periods.get(part)),
         f.measure(_summary(metrics, part).get("mean_actual"), 2))
        for part in PARTS
    ]  # fmt: skip
    numeric = (False, True, False, True)
    blocks.append(table(("Part", "Rows", "Period", "Mean target"), rows, numeric))
    if split.get("unlabelled_dropped"):
        blocks.append(Para(f"{f.count(split['unlabelled_dropped'])} rows without a target amount "
                           "were left out before splitting."))  # fmt: skip
    blocks += [
        Heading("Target"),
        Para(
            f"`{card.get('target') or 'target'}` is an amount; the model predicts it directly "
            "(squared-error loss)."
        ),
    ]
    return Section(2, "Data", tuple(blocks))


def _sources(datasets: list[Mapping[str, Any]]) -> Block:
    if not datasets:
        return Para("No dataset lineage was recorded.")
    rows = []
    for d in datasets:
        versions = d.get("versions") or [{}]
        for v in versions:
            rows.append(
                (
                    f"`{d.get('name')}`",
                    f"`{v['version']}`" if v.get("version") else f.DASH,
                    f.count(v.get("rows", d.get("rows"))),
                    f.period([v["time_min"], v["time_max"]]) if v.get("time_min") else f.DASH,
                    f"`{v['source_sha256']}`" if v.get("source_sha256") else f.DASH,
                    f"`{v['path']}`" if v.get("path") else f.DASH,
                )
            )
    headers = ("Dataset", "Version (content hash)", "Rows", "Period", "Source SHA-256", "Path")
    return table(headers, rows, (False, False, True, False, False, False))


def _split_text(policy: str | None) -> str:
    if policy == "time":
        return (
            "Time split: the most recent window is held out as the backtest; the rest, "
            "in date order, gives train, then validation, then test, so the model is always "
            "judged on data later than it learnt from."
        )
    if policy == "random":
        return (
            "Random split, seeded and stratified by the target (the data has no decision "
            "date, so there is no backtest window)."
        )
    return f"Split policy: {policy or f.DASH}."


def _summary(metrics: Mapping[str, Any], part: str) -> Mapping[str, Any]:
    key = "backtest_metrics" if part == "backtest" else part
    return metrics.get(key) or {}


def methodology_section(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> Section:
    features = card.get("features") or []
    n_cat = sum(1 for x in features if x.get("type") == "categorical")
    blocks: list[Block] = [
        Heading("Features"),
        Para(
            f"{len(features)} model inputs: {len(features) - n_cat} numeric, {n_cat} categorical "
            "(categorical levels enter the model as integer codes)."
        ),
        _features(features),
        Heading("Point-in-time rule"),
        Para(
            card.get("point_in_time")
            or "Every feature is computed as of the row's decision date from records dated "
            "strictly before it, so nothing known only after the decision reaches the model. "
            "The same saved feature pipeline computes the features at scoring time."
        ),
        Heading("Baseline"),
        Para(
            (
                "Ridge regression (closed form)"
                if metrics.get("task") == "regression"
                else "L2-regularised logistic regression, fitted by Newton's method,"
            )
            + " on the same features (categorical codes one-hot encoded, numbers standardised "
            "with training statistics). The boosted model must earn its complexity against it "
            "(section 4)."
        ),
        Heading("Gradient-boosted trees (XGBoost)"),
        *_search(metrics, card),
        Heading("Threshold policy"),
        Para(
            "None: a regression returns the predicted amount; there is no decision threshold."
            if metrics.get("task") == "regression"
            else _threshold_text(metrics.get("threshold") or {})
        ),
    ]
    return Section(3, "Methodology", tuple(blocks))


def _features(features: list[Mapping[str, Any]]) -> Block:
    has_missing = any("missing_rate" in x for x in features)
    headers = ["#", "Feature", "Type", "Source"]
    headers += ["Missing"] if has_missing else []
    headers += ["Levels"]
    rows = []
    for x in features:
        cats = x.get("categories") or []
        levels = ", ".join(str(c) for c in cats[:6]) + (
            f" … ({len(cats)})" if len(cats) > 6 else ""
        )
        row = [
            str(x.get("position", "")),
            f"`{x.get('name')}`",
            str(x.get("type")),
            str(x.get("source") or f.DASH),
        ]
        row += [f.pct(x.get("missing_rate"))] if has_missing else []
        rows.append((*row, levels or f.DASH))
    numeric = (True, False, False, False) + ((True,) if has_missing else ()) + (False,)
    return table(headers, rows, numeric)


def _search(metrics: Mapping[str, Any], card: Mapping[str, Any]) -> list[Block]:
    trials = metrics.get("search") or []
    chosen = metrics.get("params") or {}
    optimise = metrics.get("optimise") or "roc_auc"
    seed = card.get("seed")
    text = (
        f"{len(trials)} trial(s) of a seeded random search (seed {seed}) over tree depth, "
        f"learning rate, child weight, row and column sampling and L2 penalty; histogram "
        f"tree method; each trial stops early on the validation part and is scored by "
        f"validation `{optimise}`. The best trial is kept, trimmed to its best round "
        f"({metrics.get('best_round', f.DASH)})."
    )
    blocks: list[Block] = [Para(text)]
    if trials:
        keys = sorted({k for t in trials for k in t.get("params", {})} - set(_SEARCH_FIXED))
        varying = [k for k in keys if len({repr(t["params"].get(k)) for t in trials}) > 1]
        rows = [
            (
                str(i),
                *(f.param(t["params"].get(k)) for k in varying),
                str(t.get("best_round")),
                f.measure(t.get("score"), 4),
                "chosen" if t.get("params") == chosen else "",
            )
            for i, t in enumerate(trials, 1)
        ]
        headers = ("Trial", *varying, "Best round", f"Validation {optimise}", "")
        blocks.append(table(headers, rows, (True,) * (len(headers) - 1) + (False,)))
    if chosen:
        items = tuple((k, f.param(v)) for k, v in sorted(chosen.items()) if k != "nthread")
        blocks += [Para("Chosen parameters:"), Facts(items)]
    return blocks


def _threshold_text(t: Mapping[str, Any]) -> str:
    if not t:
        return "No threshold was recorded."
    return (
        f"Threshold **{f.threshold(t.get('value'))}**: {t.get('policy') or f.DASH}. It is "
        "chosen on the validation part and applied unchanged to the test part, so the test "
        "precision and recall of section 4 are not tuned on the rows they describe."
    )
