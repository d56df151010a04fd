"""Monitoring runs: the I/O around the pure measurements, for the CLI and the jobs.

``measure_drift`` and ``measure_performance`` pick the windows (the latest
``config.windows`` that hold predictions, or the one holding ``at``), measure every model
version that predicted in each, store the results, record and deliver the alerts, and
return what they did. A model with no logged prediction, or a window asked for that has
none, is a NoPredictions error naming what exists; an empty window among the latest is
simply skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.monitoring import store
from appliance.monitoring.alerts import (
    Alert,
    Breach,
    drift_breaches,
    fairness_breaches,
    performance_breaches,
    record_alerts,
)
from appliance.monitoring.config import MonitoringConfig
from appliance.monitoring.delivery import deliver_pending
from appliance.monitoring.drift import (
    SCORE,
    FeatureDrift,
    MetricValue,
    categorical_drift,
    numeric_drift,
)
from appliance.monitoring.errors import NoPredictions
from appliance.monitoring.fairness import GroupRow, group_fairness
from appliance.monitoring.performance import PerformanceFigure, performance_figures
from appliance.monitoring.predictions import Logged, encode, load_window, prediction_span
from appliance.monitoring.reference import CategoricalReference, rounded
from appliance.monitoring.versions import VersionCache, Watched
from appliance.monitoring.windows import Window, window_of

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.features.sources import FeatureSources
    from appliance.home import DataHome
    from appliance.usecase.spec import UseCaseSpec

__all__ = [
    "MonitorRun",
    "WindowDrift",
    "WindowPerformance",
    "measure_drift",
    "measure_performance",
    "pick_windows",
]

Progress = Callable[[str], None]
PROBABILITY_DECIMALS = 6
"""The precision of the probability in the prediction log (the service rounds it)."""


@dataclass(frozen=True)
class WindowDrift:
    version: int
    window: Window
    rows: int
    features: tuple[FeatureDrift, ...]
    score: FeatureDrift | None
    skew: tuple[FeatureDrift, ...] = ()

    def at_level(self, level: str) -> list[str]:
        return [d.feature for d in (*self.features, *([self.score] if self.score else []))
                if d.level == level]  # fmt: skip


@dataclass(frozen=True)
class WindowPerformance:
    version: int
    window: Window
    rows: int
    labelled: int
    figures: tuple[PerformanceFigure, ...]
    fairness: tuple[GroupRow, ...]
    conflicts: int = 0


@dataclass
class MonitorRun:
    model: str
    window_kind: str
    drift: list[WindowDrift] = field(default_factory=list)
    performance: list[WindowPerformance] = field(default_factory=list)
    new_alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    delivered: int = 0
    delivery_errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.drift) + sum(w.rows for w in self.performance)


def pick_windows(
    db: Database, model: str, kind: str, count: int, at: date | str | None = None
) -> list[Window]:
    """The windows a run measures (see the module docstring)."""
    span = prediction_span(db, model)
    if span is None:
        raise NoPredictions(f"no logged predictions for model {model!r} yet: score through the "
                            "service or `appliance score` first")  # fmt: skip
    if at is not None:
        window = window_of(kind, at)
        if not db.execute("SELECT 1 FROM predictions WHERE model = ? AND at >= ? AND at < ? "
                          "LIMIT 1", [model, window.start_iso, window.end_iso]).fetchone():
            raise NoPredictions(f"no predictions of {model!r} in {kind} {window.label} "
                                f"({window.start_iso} .. {window.end_iso}); its predictions "
                                f"run from {span[0][:10]} to {span[1][:10]}")  # fmt: skip
        return [window]
    first, window = window_of(kind, span[0]), window_of(kind, span[1])
    out: list[Window] = []
    while window >= first and len(out) < count:
        hit = db.execute("SELECT 1 FROM predictions WHERE model = ? AND at >= ? AND at < ? LIMIT 1",
                         [model, window.start_iso, window.end_iso]).fetchone()  # fmt: skip
        if hit:
            out.append(window)
        window = window_of(kind, _day_before(window.start))
    return sorted(out)


def _day_before(day: date) -> date:
    from datetime import timedelta

    return day - timedelta(days=1)


def _now() -> str:
    from appliance.store.db import now_iso

    return now_iso()


def measure_drift(
    home: DataHome, db: Database, spec: UseCaseSpec, config: MonitoringConfig, *,
    window_kind: str | None = None, at: date | str | None = None, skew: bool = True,
    progress: Progress = lambda _line: None,
) -> MonitorRun:  # fmt: skip
    """Drift (and skew) of every version in the chosen windows; stored, alerted."""
    from appliance.features.sources import LakeSources

    kind = window_kind or config.window
    model = spec.model_name
    run = MonitorRun(model, kind)
    cache = VersionCache(home, db)
    sources = LakeSources(home, db) if skew else None
    breaches: list[Breach] = []
    segments = _production_segments(home, db, spec.name, run)
    for window in pick_windows(db, model, kind, config.windows, at):
        for version, logged in sorted(load_window(db, model, window).items()):
            watched = cache.get(model, version)
            result = _drift_of(watched, logged, config, sources)
            now = _now()
            moved = _segment_shift(segments, logged, config, run)
            if moved is not None:
                result = replace(result, features=(*result.features, moved))
            measured = (*result.features, *([result.score] if result.score else []))
            store.save_drift(db, model, version, window, "drift", measured, now)
            if result.skew:
                store.save_drift(db, model, version, window, "skew", result.skew, now)
            breaches += drift_breaches(model, version, window, measured, config)
            breaches += drift_breaches(model, version, window, result.skew, config, kind="skew")
            run.drift.append(result)
            acts = result.at_level("act")
            progress(f"{window.kind} {window.label} v{version}: {logged.rows:,} predictions, "
                     f"{len(acts)} at act level" + (f" ({', '.join(acts)})" if acts else ""))
    _finish(db, run, breaches, config, progress)
    return run


SEGMENT = "(segment)"
"""The drift row of the customers' segment shares (a use case with a segmentation)."""


def _production_segments(home: DataHome, db: Database, usecase: str, run: MonitorRun) -> Any:
    """The use case's production segmentation artifact, or None (none, or unreadable:
    said in the run's notes, drift of the features goes on)."""
    from appliance.errors import ApplianceError
    from appliance.segmentation.records import get_segmentation, load_artifact, production_version

    version = production_version(db, usecase)
    if version is None:
        return None
    try:
        return load_artifact(home, get_segmentation(db, usecase, version))
    except ApplianceError as exc:
        run.notes.append(f"segment drift not measured: {exc}")
        return None


def _segment_shift(
    artifact: Any, logged: Logged, config: MonitoringConfig, run: MonitorRun
) -> FeatureDrift | None:
    """PSI of this window's segment shares (customers assigned from their logged
    features) against the shares at training, judged with the PSI bands."""
    from appliance.errors import ApplianceError
    from appliance.segmentation.artifact import assign
    from appliance.segmentation.drift import segment_drift

    if artifact is None or logged.rows == 0:
        return None
    try:
        labels = assign(artifact, {name: np.asarray(values, dtype=np.float64) for name, values
                                   in logged.features.items() if name in artifact.names})
    except (ApplianceError, TypeError, ValueError) as exc:  # fmt: skip
        note = f"segment drift not measured: {exc}"
        if note not in run.notes:
            run.notes.append(note)
        return None
    shift = segment_drift(artifact.sizes, labels)
    judged = shift.rows >= config.min_rows
    band = config.band("psi")
    level = band.level(shift.psi) if band and judged else None
    detail = {"training_shares": list(shift.training_shares),
              "window_shares": list(shift.current_shares)}  # fmt: skip
    return FeatureDrift(SEGMENT, "segment", shift.rows,
                        (MetricValue("psi", shift.psi, level, detail),))  # fmt: skip


def _drift_of(
    watched: Watched, logged: Logged, config: MonitoringConfig, sources: FeatureSources | None
) -> WindowDrift:
    encoded = encode(watched.pipeline, logged.features, logged.rows)
    features = []
    for name, ref in watched.reference.features.items():
        if name not in encoded.values:
            continue
        if isinstance(ref, CategoricalReference):
            features.append(categorical_drift(ref, encoded.values[name], config,
                                              unseen=encoded.unseen.get(name)))  # fmt: skip
        else:
            features.append(numeric_drift(ref, encoded.values[name], config,
                                          raw_missing=encoded.raw_missing.get(name)))  # fmt: skip
    score = None
    # a regression's answer is an amount, not a probability: its features drift is measured,
    # the amount's distribution not yet (the log's probability column is empty for it)
    if watched.reference.score is not None and not watched.is_regression:
        reference = rounded(watched.reference.score, PROBABILITY_DECIMALS)
        score = numeric_drift(reference, logged.probability, config, kind="score")
        score = FeatureDrift(SCORE, "score", score.rows, score.metrics, score.note)
    skewed: tuple[FeatureDrift, ...] = ()
    if sources is not None:
        from appliance.monitoring.skew import skew_drift

        skewed = tuple(skew_drift(watched.pipeline, logged, sources, config))
    return WindowDrift(logged.version, logged.window, logged.rows, tuple(features), score, skewed)


def measure_performance(
    home: DataHome, db: Database, spec: UseCaseSpec, config: MonitoringConfig, *,
    window_kind: str | None = None, at: date | str | None = None,
    progress: Progress = lambda _line: None,
) -> MonitorRun:  # fmt: skip
    """Realised (or estimated) performance and fairness per version and window."""
    from appliance.features.sources import LakeSources
    from appliance.monitoring.groups import protected_groups
    from appliance.monitoring.labels import match_outcomes, unmatched_outcomes

    kind = window_kind or config.window
    model = spec.model_name
    run = MonitorRun(model, kind)
    cache = VersionCache(home, db)
    sources = LakeSources(home, db)
    breaches: list[Breach] = []
    for window in pick_windows(db, model, kind, config.windows, at):
        for version, logged in sorted(load_window(db, model, window).items()):
            watched = cache.get(model, version)
            if watched.threshold is None:
                breaches += _realised_amounts(db, run, watched, logged, window, config, progress)
                continue
            labels = match_outcomes(db, model, logged.request_ids, logged.application_ids)
            p = logged.probability
            vspec = watched.pipeline.spec
            flagged = np.nan_to_num(p, nan=-np.inf) >= watched.threshold
            favourable = flagged if vspec.population.favourable == "flagged" else ~flagged
            score_edges = watched.reference.score.edges if watched.reference.score else None
            figures = performance_figures(p, favourable, labels.y, config,
                                          score_edges=score_edges, test_auc=watched.test_auc)
            groups = protected_groups(vspec, logged, sources)
            fair = group_fairness(groups, np.nan_to_num(p, nan=0.0), watched.threshold, labels.y,
                                  favourable=vspec.population.favourable,
                                  min_group_size=config.min_group_size, di_floor=config.di_floor)
            labelled = int(np.isfinite(labels.y).sum())
            now = _now()
            store.save_performance(db, model, version, window, figures, logged.rows, labelled, now)
            store.save_fairness(db, model, version, window, fair, now)
            breaches += performance_breaches(model, version, window, figures, config)
            breaches += fairness_breaches(model, version, window, fair, config)
            run.performance.append(WindowPerformance(version, window, logged.rows, labelled,
                                                     tuple(figures), tuple(fair),
                                                     labels.conflicts))  # fmt: skip
            if labels.conflicts:
                run.notes.append(f"{window.label} v{version}: {labels.conflicts} prediction(s) "
                                 "have a request-id outcome and an application-id outcome that "
                                 "disagree; the request id's was used")  # fmt: skip
            progress(f"{window.kind} {window.label} v{version}: {logged.rows:,} predictions, "
                     f"{labelled:,} with outcomes")
    orphans = unmatched_outcomes(db, model)
    if orphans:
        run.notes.append(f"{orphans} outcome(s) for {model} match no logged prediction; "
                         "they are not counted")  # fmt: skip
    _finish(db, run, breaches, config, progress)
    return run


def _realised_amounts(
    db: Database, run: MonitorRun, watched: Watched, logged: Logged, window: Window,
    config: MonitoringConfig, progress: Progress,
) -> list[Breach]:  # fmt: skip
    """A regression version's realised errors in one window, once actual amounts arrive
    (posted to /v1/outcomes as ``actual``); stored and judged like the classifiers'."""
    from appliance.monitoring.labels import logged_amounts, match_outcomes
    from appliance.monitoring.performance import amount_figures

    model, version = watched.version.model, watched.version.version
    actual = match_outcomes(db, model, logged.request_ids, logged.application_ids,
                            actual=True).y  # fmt: skip
    predicted = logged_amounts(db, model, version, logged.request_ids)
    test_rmse = (watched.version.metrics.get("test") or {}).get("rmse")
    figures = amount_figures(predicted, actual, test_rmse, min_rows=config.min_rows)
    labelled = int(np.isfinite(actual).sum())
    store.save_performance(db, model, version, window, figures, logged.rows, labelled, _now())
    run.performance.append(WindowPerformance(version, window, logged.rows, labelled,
                                             tuple(figures), (), 0))  # fmt: skip
    if not figures:
        run.notes.append(f"{window.label} v{version}: {labelled:,} of {logged.rows:,} "
                         f"predictions have their actual amount; {config.min_rows} are needed "
                         "to judge the errors")  # fmt: skip
    progress(f"{window.kind} {window.label} v{version}: {logged.rows:,} predictions, "
             f"{labelled:,} with actual amounts")
    return performance_breaches(model, version, window, figures, config)


def _finish(
    db: Database, run: MonitorRun, breaches: list[Breach], config: MonitoringConfig,
    progress: Progress,
) -> None:  # fmt: skip
    now = _now()
    run.new_alerts = record_alerts(db, breaches, now)
    for alert in run.new_alerts:
        progress(f"ALERT #{alert.id} [{alert.level}] {alert.message}"
                 + (" (retrain requested)" if alert.retrain_requested else ""))  # fmt: skip
    run.delivered, run.delivery_errors = deliver_pending(db, config, now)
    for error in run.delivery_errors:
        progress(f"alert delivery failed: {error} (tried again on the next run)")
