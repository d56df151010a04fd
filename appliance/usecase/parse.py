"""Parsing use-case spec TOML into ``UseCaseSpec``, checking every field.

Nothing here reads data. Every error names the spec file and the offending field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.toml_files import read_toml
from appliance.usecase._reader import Reader
from appliance.usecase.spec import (
    AgeFeature,
    ColumnFeature,
    ColumnRef,
    FeatureSpec,
    History,
    HourFeature,
    PaymentHistoryFeature,
    Population,
    Protected,
    RatioFeature,
    RegionalHazardFeature,
    SplitPolicy,
    TableJoin,
    ThresholdSpec,
    TrainingSpec,
    UseCaseSpec,
    WindowStatsFeature,
)

__all__ = ["load_spec", "parse_spec"]

_STATS = ("count", "sum", "mean", "max", "min")
_METRICS = {
    "classification": ("roc_auc", "pr_auc", "ks", "log_loss", "brier"),
    "regression": ("rmse", "mae", "r2"),
}


def load_spec(path: Path) -> UseCaseSpec:
    """Read and validate a use-case spec file."""
    data, fingerprint = read_toml(path, "use-case spec")
    return parse_spec(data, origin=str(path), fingerprint=fingerprint)


def parse_spec(
    data: Mapping[str, Any], origin: str = "<inline>", fingerprint: str | None = None
) -> UseCaseSpec:
    """Build a UseCaseSpec from parsed TOML, checking every field and cross-reference."""
    r = Reader(origin)
    r.no_unknown(data, _TOP, "the top level")
    population = _population(r, r.table(data.get("population"), "population"))
    tables = tuple(
        _table_join(r, t, f"tables[{i}]", population) for i, t in enumerate(r.array(data, "tables"))
    )
    histories = tuple(
        _history(r, h, f"histories[{i}]") for i, h in enumerate(r.array(data, "histories"))
    )
    _unique(r, [*(t.name for t in tables), *(h.name for h in histories)], "table names")
    ctx = _Context(r, {t.name for t in tables}, {h.name for h in histories})
    raw_features = data.get("features", "auto")
    auto = raw_features == "auto"
    features: tuple[FeatureSpec, ...] = ()
    if not auto:
        if not isinstance(raw_features, list) or not raw_features:
            raise r.error("features", 'declare [[features]] tables, or features = "auto"')
        features = tuple(_feature(ctx, f, f"features[{i}]") for i, f in enumerate(raw_features))
    protected = tuple(
        _protected(ctx, p, f"protected[{i}]") for i, p in enumerate(r.array(data, "protected"))
    )
    task = data.get("task", "classification")
    if not isinstance(task, str) or task not in _METRICS:
        raise r.error("task", f"{task!r} is not one of {', '.join(_METRICS)}")
    if task == "regression" and "threshold" in data:
        raise r.error("threshold", "a regression predicts an amount: it has no threshold")
    spec = UseCaseSpec(
        name=r.name(data.get("name"), "name"),
        model=r.name(data["model"], "model") if "model" in data else "",
        description=r.text(data, "description"),
        purpose=r.text(data, "purpose"),
        owner=r.text(data, "owner"),
        population=population,
        tables=tables,
        histories=histories,
        features=features,
        auto_features=auto,
        exclude=tuple(r.str_list(data.get("exclude", []), "exclude")),
        protected=protected,
        split=_split(r, data.get("split", {}), population),
        task="regression" if task == "regression" else "classification",
        training=_training(r, data.get("training", {}), task),
        threshold=_threshold(r, data.get("threshold", {})),
        **_evaluation(r, data.get("evaluation", {})),
        **_promotion(r, data.get("promotion", {})),
        origin=origin,
        fingerprint=fingerprint or hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest(),
        raw=data,
    )
    _check_cross(r, spec)
    return spec


_TOP = {
    "name", "model", "description", "purpose", "owner", "population", "tables", "histories",
    "features", "exclude", "protected", "split", "training", "threshold", "evaluation",
    "promotion", "reasons", "task",
    # read by appliance.segmentation, which checks it; the rest of the spec ignores it
    "segmentation",
}  # fmt: skip


def _population(r: Reader, raw: Mapping[str, Any]) -> Population:
    r.no_unknown(raw, set(Population.__dataclass_fields__), "population")
    positive = raw.get("positive", 1)
    if not isinstance(positive, str | int | bool):
        raise r.error("population.positive", "must be a string, an integer or a boolean")
    favourable = raw.get("favourable", "not_flagged")
    if favourable not in ("not_flagged", "flagged"):
        raise r.error("population.favourable", "must be 'not_flagged' (credit) or 'flagged'")
    return Population(
        dataset=r.name(raw.get("dataset"), "population.dataset"),
        id=r.name(raw.get("id"), "population.id"),
        target=r.name(raw.get("target"), "population.target"),
        entity=r.opt_name(raw, "entity", "population"),
        time=r.opt_name(raw, "time", "population"),
        positive=positive,
        positive_label=str(raw.get("positive_label", "positive")),
        favourable=favourable,
        since=r.opt_date(raw, "since", "population"),
        until=r.opt_date(raw, "until", "population"),
    )


def _table_join(r: Reader, raw: Any, at: str, population: Population) -> TableJoin:
    raw = r.table(raw, at)
    r.no_unknown(raw, set(TableJoin.__dataclass_fields__), at)
    key = r.name(raw.get("key"), f"{at}.key")
    return TableJoin(
        name=r.name(raw.get("name"), f"{at}.name"),
        dataset=r.name(raw.get("dataset"), f"{at}.dataset"),
        key=key,
        on=r.name(raw.get("on", population.entity or key), f"{at}.on"),
    )


def _history(r: Reader, raw: Any, at: str) -> History:
    raw = r.table(raw, at)
    r.no_unknown(raw, set(History.__dataclass_fields__), at)
    if "time" not in raw:
        raise r.error(
            at, "a history needs `time` (the record's date): without it features cannot be "
            "point-in-time and would leak data from after the decision"
        )  # fmt: skip
    return History(
        name=r.name(raw.get("name"), f"{at}.name"),
        dataset=r.name(raw.get("dataset"), f"{at}.dataset"),
        key=r.name(raw.get("key"), f"{at}.key"),
        time=r.name(raw.get("time"), f"{at}.time"),
        known_at=tuple(r.str_list(raw.get("known_at", []), f"{at}.known_at")),
        on=r.opt_name(raw, "on", at),
    )


@dataclass(frozen=True)
class _Context:
    r: Reader
    tables: set[str]
    histories: set[str]

    def ref(self, value: Any, at: str) -> ColumnRef:
        if not isinstance(value, str) or not value:
            raise self.r.error(at, "must name a column: `col` or `table.col`")
        table, _, column = value.rpartition(".")
        if table and table not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none declared"
            raise self.r.error(at, f"{value!r}: no [[tables]] named {table!r} ({known})")
        return ColumnRef(table or None, self.r.name(column, at))

    def history(self, raw: Mapping[str, Any], at: str) -> str:
        name = raw.get("history")
        if name not in self.histories:
            known = ", ".join(sorted(self.histories)) or "none declared"
            raise self.r.error(f"{at}.history", f"{name!r} is not a [[histories]] name ({known})")
        return str(name)


_BUILDERS = (
    "column", "ratio", "age", "hour", "payment_history", "window_stats", "regional_hazard",
)  # fmt: skip


def _feature(ctx: _Context, raw: Any, at: str) -> FeatureSpec:
    r = ctx.r
    raw = r.table(raw, at)
    builder = raw.get("builder", "column")
    if builder not in _BUILDERS:
        raise r.error(f"{at}.builder", f"{builder!r} is not one of {', '.join(_BUILDERS)}")
    body = {k: v for k, v in raw.items() if k != "builder"}
    if builder == "column":
        r.no_unknown(body, set(ColumnFeature.__dataclass_fields__), at)
        ref = ctx.ref(body.get("column"), f"{at}.column")
        kind = body.get("kind")
        if kind not in (None, "numeric", "categorical"):
            raise r.error(f"{at}.kind", "must be 'numeric' or 'categorical'")
        bins = body.get("bins")
        if bins is not None and (not isinstance(bins, int) or bins < 2):
            raise r.error(f"{at}.bins", "must be an integer >= 2")
        return ColumnFeature(
            name=r.name(body.get("name", ref.column), f"{at}.name"),
            column=ref,
            kind=kind,
            clip=r.clip(body, at),
            log=r.flag(body, "log", at),
            bins=bins,
            min_count=r.positive_int(body, "min_count", at, 1),
        )
    if builder == "ratio":
        r.no_unknown(body, set(RatioFeature.__dataclass_fields__), at)
        return RatioFeature(
            name=r.name(body.get("name"), f"{at}.name"),
            numerator=ctx.ref(body.get("numerator"), f"{at}.numerator"),
            denominator=ctx.ref(body.get("denominator"), f"{at}.denominator"),
            clip=r.clip(body, at),
            log=r.flag(body, "log", at),
        )
    if builder == "age":
        r.no_unknown(body, set(AgeFeature.__dataclass_fields__), at)
        unit = body.get("unit", "years")
        if unit not in ("years", "months", "days"):
            raise r.error(f"{at}.unit", "must be 'years', 'months' or 'days'")
        return AgeFeature(
            name=r.name(body.get("name"), f"{at}.name"),
            column=ctx.ref(body.get("column"), f"{at}.column"),
            unit=unit,
        )
    if builder == "hour":
        r.no_unknown(body, set(HourFeature.__dataclass_fields__), at)
        return HourFeature(
            name=r.name(body.get("name"), f"{at}.name"),
            column=ctx.ref(body.get("column"), f"{at}.column"),
        )
    if builder == "payment_history":
        r.no_unknown(body, set(PaymentHistoryFeature.__dataclass_fields__), at)
        return PaymentHistoryFeature(
            history=ctx.history(body, at),
            windows=r.windows(body, at),
            billed=r.name(body.get("billed"), f"{at}.billed"),
            paid=r.name(body.get("paid"), f"{at}.paid"),
            days_late=r.name(body.get("days_late"), f"{at}.days_late"),
            limit=r.opt_name(body, "limit", at),
            prefix=r.text(body, "prefix"),
        )
    if builder == "window_stats":
        r.no_unknown(body, set(WindowStatsFeature.__dataclass_fields__), at)
        stats = r.table(body.get("stats", {}), f"{at}.stats")
        pairs: list[tuple[str, tuple[str, ...]]] = []
        for column, wanted in stats.items():
            names = r.str_list(wanted, f"{at}.stats.{column}")
            bad = sorted(set(names) - set(_STATS))
            if bad or not names:
                raise r.error(f"{at}.stats.{column}", f"stats must be among {', '.join(_STATS)}")
            pairs.append((r.name(column, f"{at}.stats"), tuple(names)))
        return WindowStatsFeature(
            history=ctx.history(body, at),
            windows=r.windows(body, at),
            stats=tuple(pairs),
            prefix=r.text(body, "prefix"),
        )
    r.no_unknown(body, set(RegionalHazardFeature.__dataclass_fields__), at)
    years = body.get("years", [1, 3, 5])
    if not isinstance(years, list) or not all(isinstance(y, int) and 0 < y <= 30 for y in years):
        raise r.error(f"{at}.years", "must be a list of whole years between 1 and 30")
    return RegionalHazardFeature(
        region=ctx.ref(body.get("region"), f"{at}.region"),
        years=tuple(years),
        dataset=r.name(body.get("dataset", "tile_labels"), f"{at}.dataset"),
    )


def _protected(ctx: _Context, raw: Any, at: str) -> Protected:
    r = ctx.r
    raw = r.table(raw, at)
    r.no_unknown(raw, set(Protected.__dataclass_fields__), at)
    bands = raw.get("age_bands", [])
    if not isinstance(bands, list) or not all(isinstance(b, int) for b in bands):
        raise r.error(f"{at}.age_bands", "must be a list of ages (integers)")
    if bands != sorted(set(bands)):
        raise r.error(f"{at}.age_bands", "must be strictly increasing")
    ref = ctx.ref(raw.get("column"), f"{at}.column")
    return Protected(
        name=r.name(raw.get("name", ref.column), f"{at}.name"),
        column=ref,
        age_bands=tuple(bands),
    )


def _split(r: Reader, raw: Any, population: Population) -> SplitPolicy:
    raw = r.table(raw, "split")
    r.no_unknown(raw, set(SplitPolicy.__dataclass_fields__), "split")
    policy = raw.get("policy", "time" if population.time else "random")
    if policy not in ("time", "random"):
        raise r.error("split.policy", "must be 'time' or 'random'")
    if policy == "time" and not population.time:
        raise r.error("split.policy", "a time split needs population.time (the decision date)")
    split = SplitPolicy(
        policy=policy,
        validation=r.fraction(raw, "validation", "split", 0.15),
        test=r.fraction(raw, "test", "split", 0.15),
        backtest_months=r.positive_int(raw, "backtest_months", "split", 0, allow_zero=True),
        backtest_days=r.positive_int(raw, "backtest_days", "split", 0, allow_zero=True),
        seed=r.positive_int(raw, "seed", "split", 7, allow_zero=True),
    )
    if split.validation + split.test >= 0.8:
        raise r.error("split", "validation + test must leave at least 20 % for training")
    if (split.backtest_months or split.backtest_days) and policy != "time":
        raise r.error("split", "a backtest window needs a time split")
    if split.backtest_months and split.backtest_days:
        raise r.error("split", "give backtest_months or backtest_days, not both")
    return split


def _training(r: Reader, raw: Any, task: str) -> TrainingSpec:
    raw = r.table(raw, "training")
    r.no_unknown(raw, set(TrainingSpec.__dataclass_fields__), "training")
    known = _METRICS[task]
    metric = raw.get("metric", known[0])
    if metric not in known:
        other = next((t for t, names in _METRICS.items() if metric in names), None)
        why = f"is a {other} metric, and this use case's task is {task}" if other else (
            f"is not one of {', '.join(known)}")  # fmt: skip
        raise r.error("training.metric", f"{metric!r} {why}")
    leak_auc = raw.get("leak_auc", 0.97)
    if not isinstance(leak_auc, int | float) or not 0.5 < leak_auc <= 1:
        raise r.error("training.leak_auc", "must be a number in (0.5, 1]")
    leak_corr = raw.get("leak_corr", 0.98)
    if not isinstance(leak_corr, int | float) or not 0 < leak_corr <= 1:
        raise r.error("training.leak_corr", "must be a number in (0, 1]")
    return TrainingSpec(
        metric=metric,
        trials=r.positive_int(raw, "trials", "training", 6),
        max_rounds=r.positive_int(raw, "max_rounds", "training", 600),
        early_stopping=r.positive_int(raw, "early_stopping", "training", 50),
        seed=r.positive_int(raw, "seed", "training", 7, allow_zero=True),
        leak_auc=float(leak_auc),
        leak_corr=float(leak_corr),
    )


def _threshold(r: Reader, raw: Any) -> ThresholdSpec:
    raw = r.table(raw, "threshold")
    r.no_unknown(raw, set(ThresholdSpec.__dataclass_fields__), "threshold")
    policy = raw.get("policy", "max_fbeta")
    if policy == "max_fbeta":
        beta = raw.get("beta", 1.0)
        if not isinstance(beta, int | float) or beta <= 0:
            raise r.error("threshold.beta", "must be a positive number")
        return ThresholdSpec(policy, beta=float(beta))
    if policy == "precision_at_recall":
        return ThresholdSpec(policy, recall_floor=r.fraction(raw, "recall_floor", "threshold"))
    if policy == "approval_rate":
        return ThresholdSpec(policy, approval_rate=r.fraction(raw, "approval_rate", "threshold"))
    raise r.error(
        "threshold.policy", "must be 'max_fbeta', 'precision_at_recall' or 'approval_rate'"
    )


def _evaluation(r: Reader, raw: Any) -> dict[str, Any]:
    raw = r.table(raw, "evaluation")
    r.no_unknown(raw, {"lift_buckets", "backtest_period"}, "evaluation")
    buckets = raw.get("lift_buckets", [0.05, 0.1, 0.2, 0.3])
    if not isinstance(buckets, list) or not all(
        isinstance(b, int | float) and 0 < b <= 1 for b in buckets
    ):
        raise r.error("evaluation.lift_buckets", "must be a list of shares in (0, 1]")
    period = raw.get("backtest_period", "week")
    if period not in ("week", "month"):
        raise r.error("evaluation.backtest_period", "must be 'week' or 'month'")
    return {"lift_buckets": tuple(float(b) for b in sorted(buckets)), "backtest_period": period}


def _promotion(r: Reader, raw: Any) -> dict[str, Any]:
    raw = r.table(raw, "promotion")
    r.no_unknown(raw, {"tolerance", "auto"}, "promotion")
    tolerance = raw.get("tolerance", 0.005)
    if not isinstance(tolerance, int | float) or not 0 <= tolerance < 0.5:
        raise r.error("promotion.tolerance", "must be a number in [0, 0.5)")
    return {"tolerance": float(tolerance), "auto_promote": r.flag(raw, "auto", "promotion")}


def _check_cross(r: Reader, spec: UseCaseSpec) -> None:
    """Refuse what is wrong whatever the data: protected attributes used as features."""
    protected = {str(p.column) for p in spec.protected}
    for i, feature in enumerate(spec.features):
        for ref in _refs(feature):
            if str(ref) in protected:
                raise r.error(
                    f"features[{i}]",
                    f"uses {ref}, a protected attribute: protected attributes are used to "
                    "measure fairness and never as features",
                )
            if ref.table is None and ref.column == spec.population.target:
                raise r.error(f"features[{i}]", f"uses the target {ref.column!r} as a feature")
    names = [n for f in spec.features for n in _declared_names(f)]
    _unique(r, names, "feature names")


def _refs(feature: FeatureSpec) -> tuple[ColumnRef, ...]:
    if isinstance(feature, ColumnFeature | AgeFeature | HourFeature):
        return (feature.column,)
    if isinstance(feature, RatioFeature):
        return (feature.numerator, feature.denominator)
    if isinstance(feature, RegionalHazardFeature):
        return (feature.region,)
    return ()


def _declared_names(feature: FeatureSpec) -> tuple[str, ...]:
    if isinstance(feature, ColumnFeature | RatioFeature | AgeFeature | HourFeature):
        return (feature.name,)
    return ()


def _unique(r: Reader, names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise r.error(what, f"{name!r} is declared twice")
        seen.add(name)
