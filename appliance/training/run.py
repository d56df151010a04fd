"""One training run: spec and lake in, a registered model version with its card out.

Steps, each announced through ``progress``: read the population, check the spec
against the data (nothing trains on a broken spec), split, build features fitted on
the training part, screen for leaks, fit the baseline, search XGBoost, evaluate on
test and backtest, measure fairness, explain, compare with the production model on
the same test rows, write the artifacts and register the version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from appliance.errors import NotFound, SchemaError
from appliance.features.builders import RawColumn, resolve, rows_of
from appliance.features.columns import as_days, as_float, as_text, is_date
from appliance.features.pipeline import FeaturePipeline, target_of
from appliance.features.sources import FeatureSources, LakeSources
from appliance.features.transforms import CategoricalEncoder
from appliance.scoring.compile import save_parity_rows
from appliance.store.db import now_iso
from appliance.training.baseline import LogisticBaseline, RidgeBaseline
from appliance.training.booster import TrainedBooster, predict, train_booster
from appliance.training.evaluate import evaluate, evaluate_regression, safe_summary
from appliance.training.explain import global_importance, shap_sample
from appliance.training.reference import reference_statistics
from appliance.training.split import Split, make_split
from appliance.usecase.checks import check_columns, check_leaks, check_training_window
from appliance.usecase.spec import Protected, UseCaseSpec

if TYPE_CHECKING:
    from pathlib import Path

    from sqlite_utils import Database

    from appliance.home import DataHome
    from appliance.registry import ModelVersion

__all__ = ["Prepared", "TrainingOutcome", "prepare", "train_usecase"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    """A labelled population with its split and features, checked and ready to fit."""

    spec: UseCaseSpec
    table: pa.Table
    y: np.ndarray
    dates: np.ndarray | None
    split: Split
    pipeline: FeaturePipeline
    x: np.ndarray
    sources: FeatureSources
    dropped_unlabelled: int
    raw: list[RawColumn] | None = None
    """The feature columns before encoding, every row (the reference's missing rates)."""


@dataclass(frozen=True)
class TrainingOutcome:
    version: ModelVersion
    metrics: dict[str, Any]
    card: Path | None
    promoted: bool
    gate_details: list[str]


def prepare(
    spec: UseCaseSpec,
    sources: FeatureSources,
    progress: Progress,
    pipeline: FeaturePipeline | None = None,
) -> Prepared:
    """Everything up to fitting a model; every refusal happens here, before training.

    With ``pipeline`` (incremental training) the features are built with that already
    fitted pipeline instead of fitting a new one.
    """
    p = spec.population
    progress(f"reading {p.dataset}")
    table = sources.table(p.dataset)
    check_columns(spec, table, sources)
    table = _window(spec, table)
    y = target_of(spec, table)
    labelled = ~np.isnan(y)
    dropped = int((~labelled).sum())
    table, y = table.filter(pa.array(labelled)), y[labelled]
    dates = as_days(table.column(p.time)) if p.time else None
    split = make_split(spec.split, y, dates, stratify=not spec.is_regression)
    check_training_window(spec, y, split.train)
    for part in ("validation", "test"):
        if spec.is_regression and getattr(split, part).size < 2:
            raise SchemaError(
                f"{spec.origin}: the {part} part has fewer than two rows; more data or a "
                "larger split.test / split.validation is needed"
            )
        if not spec.is_regression and np.unique(y[getattr(split, part)]).size < 2:
            raise SchemaError(
                f"{spec.origin}: the {part} part has one class only; more data or a "
                "larger split.test / split.validation is needed"
            )
    progress(f"building features for {table.num_rows:,} rows (split {split.sizes()})")
    if pipeline is not None:
        raw = pipeline.raw(table, sources)
        x = pipeline.encode(raw)
        return Prepared(spec, table, y, dates, split, pipeline, x, sources, dropped, raw)
    train_mask = split.mask("train", table.num_rows)
    pipeline, x, raw = FeaturePipeline.fit(spec, table, sources, train_mask)
    check_leaks(spec, raw, y, split.train)
    return Prepared(spec, table, y, dates, split, pipeline, x, sources, dropped, raw)


def train_usecase(
    home: DataHome,
    db: Database,
    spec: UseCaseSpec,
    *,
    actor: str,
    progress: Progress = lambda _line: None,
    incremental: bool = False,
    compile_model: bool = True,
) -> TrainingOutcome:
    """Train, evaluate, report and register one model version for ``spec``.

    ``incremental`` continues from the production booster (same fitted features) on
    training rows dated after the production model's training window. ``compile_model``
    builds and parity-checks the native library before any automatic promotion, so the
    compile gate sees it.
    """
    from appliance.registry import make_staging, promote, register
    from appliance.registry.promotion import GatesFailed

    started = time.monotonic()
    sources = LakeSources(home, db)
    production = _production(home, db, spec)
    if incremental and production is None:
        raise SchemaError(
            f"incremental training continues the production model of {spec.model_name!r}, "
            "and there is none yet: train without --incremental first"
        )
    base = production if incremental else None
    prep = prepare(spec, sources, progress, pipeline=base[1] if base else None)
    types, names = prep.pipeline.xgboost_types, prep.pipeline.names
    s, x, y = prep.split, prep.x, prep.y
    levels = [len(e.categories) if isinstance(e, CategoricalEncoder) else 1
              for e in prep.pipeline.encoders]  # fmt: skip
    baseline: LogisticBaseline | RidgeBaseline
    if spec.is_regression:
        progress("fitting the baseline (ridge regression)")
        baseline = RidgeBaseline.fit(x[s.train], y[s.train], types, levels)
    else:
        progress("fitting the baseline (logistic regression)")
        baseline = LogisticBaseline.fit(x[s.train], y[s.train], types, levels)
    if base is not None:
        trained = _continue(base, prep, progress)
    else:
        progress(f"searching XGBoost ({spec.training.trials} trials, early stopping)")
        trained = train_booster(
            x[s.train], y[s.train], x[s.validation], y[s.validation], types, names,
            spec.training, progress,
        )  # fmt: skip
    progress("evaluating on test and backtest; fairness; explanations")
    parts = {
        part: (y[idx], predict(trained.booster, x[idx], types, names) if idx.size else y[idx])
        for part in ("train", "validation", "test", "backtest")
        for idx in [getattr(s, part)]
    }
    groups = _protected_groups(spec, prep, s.test)
    back_dates = prep.dates[s.backtest] if prep.dates is not None else None
    judge = evaluate_regression if spec.is_regression else evaluate
    metrics = judge(spec, parts, baseline.predict(x[s.test]), groups, back_dates)
    shap, sample = shap_sample(trained.booster, x[s.test], types, names, seed=spec.training.seed)
    metrics["importance"] = global_importance(trained.booster, shap, names)
    metrics["split"] = _split_summary(prep)
    metrics["champion"] = _champion(production, prep)
    metrics.update(_search_summary(trained))
    staging = make_staging(home, spec.model_name)
    progress(f"writing artifacts to {staging.name}")
    trained.booster.save_model(str(staging / "model.ubj"))
    prep.pipeline.save(staging / "feature_pipeline.json")
    save_parity_rows(staging, x[s.test], x[s.train], seed=spec.training.seed)
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
    card_inputs = _report_inputs(metrics, prep, parts, baseline.predict(x[s.test]), shap, sample)
    from appliance.registry import NewModelVersion

    new = NewModelVersion(
        trained_at=now_iso(),
        duration_s=round(time.monotonic() - started, 3),
        params={**trained.params, "best_round": trained.best_round},
        metrics=metrics,
        feature_schema=prep.pipeline.schema(),
        datasets=sources.lineage(),
        spec=json.loads(json.dumps(dict(spec.raw), default=str)),
        spec_sha256=spec.fingerprint,
        code_version=_code_version(),
        seed=spec.training.seed,
        reference=reference_statistics(prep.pipeline, x[s.train], parts["test"][1], prep.raw,
                                       rows=s.train),
        card_file="model_card.html",
    )
    expected = _next_version(db, spec.model_name)
    progress(f"writing plots and the model card for version {expected}")
    card = _write_reports(staging, card_inputs, spec, new, version=expected)
    mv = register(db, home, spec.model_name, spec.name, spec.description, staging, new, actor=actor)
    final = home.inside(mv.booster_path).parent
    if mv.version != expected:  # another run registered first: the card must say so
        card = _write_reports(final, card_inputs, spec, new, version=mv.version)
    else:
        card = final / card.name if card is not None else None
    if compile_model:
        mv = _compile(home, db, mv, actor, progress)
    promoted, details = False, []
    if spec.auto_promote:
        try:
            report = promote(db, spec.model_name, mv.version, actor=actor,
                             reason="automatic promotion allowed by the use-case spec")  # fmt: skip
            promoted = True
            details = [f"{g.name}: {g.detail}" for g in report.gates]
        except GatesFailed as exc:
            details = [str(exc)]
    progress(f"registered {spec.model_name} version {mv.version}")
    return TrainingOutcome(mv, metrics, card, promoted, details)


def _compile(
    home: DataHome, db: Database, mv: ModelVersion, actor: str, progress: Progress
) -> ModelVersion:
    from appliance.scoring import compile_version

    compiled, report = compile_version(home, db, mv.model, str(mv.version), actor=actor,
                                       progress=progress)  # fmt: skip
    if report.status == "ok":
        progress(f"compiled {report.variant}: {report.latency_us:.1f} us per row, "
                 f"max |p - p_xgboost| {report.max_abs_diff:.1e}")  # fmt: skip
    else:
        progress(f"not compiled ({report.status}): {report.reason}")
    return compiled


def _production(
    home: DataHome, db: Database, spec: UseCaseSpec
) -> tuple[ModelVersion, FeaturePipeline, Any] | None:
    """The production version, its fitted pipeline and its booster; None if there is none."""
    from appliance.registry import load_booster
    from appliance.registry import resolve as resolve_version

    try:
        current = resolve_version(db, spec.model_name, "production")
    except NotFound:
        return None
    folder = home.inside(current.booster_path).parent
    pipeline = FeaturePipeline.load(folder / "feature_pipeline.json")
    return current, pipeline, load_booster(home, current)


def _continue(
    base: tuple[ModelVersion, FeaturePipeline, Any], prep: Prepared, progress: Progress
) -> TrainedBooster:
    """Add trees to the production booster, fitted on rows newer than its training data."""
    from appliance.training.booster import Trial, continue_training

    current, pipeline, booster = base
    s = prep.split
    periods = current.metrics.get("split", {}).get("periods", {})
    end = (periods.get("train") or [None, None])[1]
    rows = s.train
    if end is not None and prep.dates is not None:
        rows = rows[prep.dates[rows] > np.datetime64(end)]
    if rows.size == 0 or np.unique(prep.y[rows]).size < 2:
        what = "two distinct values" if prep.spec.is_regression else "both classes"
        raise SchemaError(
            f"no new labelled rows with {what} since v{current.version}'s training "
            f"window (ends {end}): nothing to continue training on"
        )
    progress(f"continuing v{current.version} on {rows.size:,} newer training rows")
    params = {k: v for k, v in current.params.items() if k != "best_round"}
    types, names = pipeline.xgboost_types, pipeline.names
    grown = continue_training(
        booster, prep.x[rows], prep.y[rows], prep.x[s.validation], prep.y[s.validation],
        types, names, params, prep.spec.training,
    )  # fmt: skip
    rounds = grown.num_boosted_rounds()
    trial = Trial(params, rounds, float("nan"))
    return TrainedBooster(grown, {**params, "continued_from": current.version}, rounds, (trial,))


def _next_version(db: Database, model: str) -> int:
    from appliance.registry import list_versions

    try:
        return max((v.version for v in list_versions(db, model)), default=0) + 1
    except NotFound:
        return 1


def _window(spec: UseCaseSpec, table: pa.Table) -> pa.Table:
    p = spec.population
    if not (p.since or p.until):
        return table
    if not p.time:
        raise SchemaError(f"{spec.origin}: population.since/until need population.time")
    day = pc.cast(table.column(p.time), pa.date32())
    keep = pc.is_valid(day)
    if p.since:
        keep = pc.and_(keep, pc.greater_equal(day, _date(p.since)))
    if p.until:
        keep = pc.and_(keep, pc.less_equal(day, _date(p.until)))
    return table.filter(keep)


def _date(text: str) -> pa.Scalar:
    from datetime import date

    return pa.scalar(date.fromisoformat(text), pa.date32())


def _protected_groups(spec: UseCaseSpec, prep: Prepared, rows: np.ndarray) -> dict[str, Any]:
    view = rows_of(spec, prep.table.take(pa.array(rows)), prep.sources)
    return {x.name: _group_labels(x, view) for x in spec.protected}


def _group_labels(x: Protected, view: Any) -> np.ndarray:
    column = resolve(view, x.column)
    if not x.age_bands:
        return as_text(column)
    if is_date(column.type):
        if view.as_of is None:
            raise SchemaError(f"protected {x.name!r}: age bands from a date need population.time")
        born = as_days(column)
        age = (view.as_of - born).astype("timedelta64[D]").astype(float) / 365.25
        age[np.isnat(born)] = np.nan
    else:
        age = as_float(column)
    edges = np.asarray(x.age_bands, dtype=float)
    labels = [f"under {x.age_bands[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(x.age_bands, x.age_bands[1:], strict=False)]
    labels.append(f"{x.age_bands[-1]}+")
    band = np.searchsorted(edges, np.nan_to_num(age, nan=-1), side="right")
    out = np.asarray([labels[b] for b in band], dtype=object)
    out[np.isnan(age)] = None
    return out


def _split_summary(prep: Prepared) -> dict[str, Any]:
    periods: dict[str, Any] = {}
    for part in ("train", "validation", "test", "backtest"):
        idx = getattr(prep.split, part)
        if prep.dates is not None and idx.size:
            d = prep.dates[idx]
            periods[part] = [str(d.min()), str(d.max())]
        else:
            periods[part] = None
    return {
        "policy": prep.split.policy, "sizes": prep.split.sizes(), "periods": periods,
        "unlabelled_dropped": prep.dropped_unlabelled,
    }  # fmt: skip


def _champion(
    production: tuple[ModelVersion, FeaturePipeline, Any] | None, prep: Prepared
) -> dict[str, Any] | None:
    """The production model re-scored on this run's test rows, for the performance gate."""
    if production is None:
        return None
    current, pipeline, booster = production
    test = prep.table.take(pa.array(prep.split.test))
    x = pipeline.transform(test, prep.sources)
    p = predict(booster, x, pipeline.xgboost_types, pipeline.names)
    y = prep.y[prep.split.test]
    if prep.spec.is_regression:
        from appliance.evaluation.regression import regression_summary

        return {"version": current.version, "test": regression_summary(y, p)}
    return {"version": current.version, "test": safe_summary(y, p)}


def _search_summary(trained: TrainedBooster) -> dict[str, Any]:
    return {
        "params": trained.params,
        "best_round": trained.best_round,
        "search": [
            {
                "params": t.params,
                "best_round": t.best_round,
                "score": t.score if np.isfinite(t.score) else None,
            }
            for t in trained.trials
        ],
    }


def _code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"scoring-appliance {version('scoring-appliance')}"
    except PackageNotFoundError:
        return "scoring-appliance (not installed)"


def _report_inputs(
    metrics: dict[str, Any],
    prep: Prepared,
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    p_baseline: np.ndarray,
    shap: np.ndarray,
    sample: np.ndarray,
) -> dict[str, Any]:
    back = prep.split.backtest
    has_back = back.size > 0 and prep.dates is not None
    return {
        "metrics": metrics,
        "y_test": parts["test"][0], "p_test": parts["test"][1], "p_baseline_test": p_baseline,
        "shap_values": shap, "shap_features": sample, "feature_names": prep.pipeline.names,
        "backtest_dates": prep.dates[back] if has_back and prep.dates is not None else None,
        "backtest_p": parts["backtest"][1] if has_back else None,
        "backtest_y": parts["backtest"][0] if has_back else None,
    }  # fmt: skip


def _write_reports(
    out: Path, inputs: dict[str, Any], spec: UseCaseSpec, new: Any, version: int | None
) -> Path | None:
    from appliance.reports import ReportInputs, write_card, write_plots

    card = {
        "model": spec.model_name, "version": version, "usecase": spec.name,
        "description": spec.description, "purpose": spec.purpose, "owner": spec.owner,
        "trained_at": new.trained_at, "duration_s": new.duration_s,
        "code_version": new.code_version, "booster_sha256": _sha256(out / "model.ubj"),
        "seed": new.seed, "datasets": list(new.datasets), "features": new.feature_schema,
        "protected": [x.name for x in spec.protected], "target": spec.population.target,
        "limitations": _limitations(spec), "gates": None,
    }  # fmt: skip
    report = ReportInputs(card=card, **inputs)
    plots = write_plots(out, report)
    _, html = write_card(out, report, plots)
    return html


def _sha256(path: Path) -> str:
    from appliance.lake import file_sha256

    return file_sha256(path) if path.exists() else ""


def _limitations(spec: UseCaseSpec) -> list[str]:
    notes = [
        "Trained on alternative data (telco, transactions, imagery) for applicants without "
        "bureau history; performance on applicants with a bureau file is not assessed.",
        "Outcomes are observed only for past decisions: the model learns from approved "
        "applicants as recorded, with no reject inference.",
    ]
    if spec.population.until:
        notes.append(
            f"Rows after {spec.population.until} were not used for training; their "
            "population may differ and must be watched by drift monitoring."
        )
    return notes
