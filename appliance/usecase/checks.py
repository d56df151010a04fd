"""Checks of a use-case spec against the data, run before any training starts.

Each refusal is a ``SchemaError`` naming the spec, the dataset and the column: a column
the spec names but the data lacks, a target with one class, an empty training window,
a feature that predicts the target almost perfectly on its own (a leak: data from
after the decision).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from appliance.errors import SchemaError
from appliance.features.builders import RawColumn
from appliance.features.sources import FeatureSources
from appliance.usecase.spec import (
    AgeFeature,
    ColumnFeature,
    ColumnRef,
    HourFeature,
    PaymentHistoryFeature,
    RatioFeature,
    RegionalHazardFeature,
    UseCaseSpec,
    WindowStatsFeature,
)

__all__ = ["check_columns", "check_leaks", "check_training_window"]


def check_columns(spec: UseCaseSpec, population: pa.Table, sources: FeatureSources) -> None:
    """Every column the spec names exists where it says; all problems in one message."""
    problems: list[str] = []
    p = spec.population
    have = {"": set(population.column_names)}

    def need(where: str, dataset: str, columns: Sequence[str | None]) -> None:
        if where not in have:
            have[where] = set(sources.table(dataset).column_names)
        for column in columns:
            if column and column not in have[where]:
                problems.append(f"dataset {dataset!r} has no column {column!r}")

    need("", p.dataset, [p.id, p.target, p.time, p.entity])
    for join in spec.tables:
        need("", p.dataset, [join.on])
        need(join.name, join.dataset, [join.key])
    for history in spec.histories:
        need("", p.dataset, [history.on or p.entity])
        need(history.name, history.dataset, [history.key, history.time, *history.known_at])
    refs: list[ColumnRef] = [x.column for x in spec.protected]
    for feature in spec.features:
        if isinstance(feature, ColumnFeature | AgeFeature | HourFeature):
            refs.append(feature.column)
        elif isinstance(feature, RatioFeature):
            refs += [feature.numerator, feature.denominator]
        elif isinstance(feature, RegionalHazardFeature):
            refs.append(feature.region)
            need(feature.dataset, feature.dataset, ["region", "acquired", "label"])
        elif isinstance(feature, PaymentHistoryFeature):
            h = spec.history(feature.history)
            wanted = [feature.billed, feature.paid, feature.days_late, feature.limit]
            need(h.name, h.dataset, wanted)
        elif isinstance(feature, WindowStatsFeature):
            h = spec.history(feature.history)
            need(h.name, h.dataset, [column for column, _ in feature.stats])
    for ref in refs:
        if ref.table is None:
            need("", p.dataset, [ref.column])
        else:
            join = spec.table(ref.table)
            need(join.name, join.dataset, [ref.column])
    if problems:
        unique = list(dict.fromkeys(problems))
        raise SchemaError(f"{spec.origin}: " + "; ".join(unique))


def check_training_window(spec: UseCaseSpec, y: np.ndarray, train: np.ndarray) -> None:
    """A non-empty training part whose target has both classes."""
    where = f"{spec.origin}: population {spec.population.dataset!r}"
    window = ""
    if spec.population.since or spec.population.until:
        window = f" between {spec.population.since or '...'} and {spec.population.until or '...'}"
    if train.size == 0:
        raise SchemaError(f"{where}: the training window{window} is empty: no labelled rows")
    if spec.is_regression:
        values = y[train]
        if np.all(values == values[0]):
            raise SchemaError(
                f"{where}: the regression target {spec.population.target!r} has one value "
                f"({values[0]:g}) on every training row{window}: there is nothing to learn"
            )
        return
    classes = np.unique(y[train])
    if classes.size < 2:
        only = "positive" if classes[0] == 1 else "negative"
        raise SchemaError(
            f"{where}: target {spec.population.target!r} has one class in the training "
            f"window{window} (every row is {only}, positive = {spec.population.positive!r})"
        )


def check_leaks(
    spec: UseCaseSpec, raw: Sequence[RawColumn], y: np.ndarray, train: np.ndarray
) -> None:
    """Refuse a feature that on its own separates the classes almost perfectly (for a
    regression: whose rank correlation with the target is almost perfect)."""
    from appliance.evaluation.metrics import roc_auc

    if spec.is_regression:
        _check_correlation_leaks(spec, raw, y, train)
        return

    limit = spec.training.leak_auc
    labels = y[train]
    for column in raw:
        values = column.values[train]
        if column.kind == "categorical":
            values = _category_rate(values, labels)
        values = np.asarray(values, dtype=np.float64)
        known = ~np.isnan(values)
        if known.sum() < 20 or np.unique(labels[known]).size < 2:
            continue
        auc = float(roc_auc(labels[known], values[known]))
        strength = max(auc, 1 - auc)
        if strength >= limit:
            raise SchemaError(
                f"{spec.origin}: feature {column.name!r} (from {column.source}) alone predicts "
                f"{spec.population.target!r} with AUC {strength:.3f} on the training rows: a "
                "leak, i.e. data recorded after the decision? Remove it, or raise "
                f"training.leak_auc above {strength:.3f} if it is genuinely known in time"
            )


def _check_correlation_leaks(
    spec: UseCaseSpec, raw: Sequence[RawColumn], y: np.ndarray, train: np.ndarray
) -> None:
    from scipy.stats import rankdata

    limit, target = spec.training.leak_corr, y[train]
    for column in raw:
        values = column.values[train]
        if column.kind == "categorical":
            values = _category_rate(values, target)
        values = np.asarray(values, dtype=np.float64)
        known = ~np.isnan(values)
        if known.sum() < 20 or np.ptp(values[known]) == 0 or np.ptp(target[known]) == 0:
            continue
        rho = float(np.corrcoef(rankdata(values[known]), rankdata(target[known]))[0, 1])
        if abs(rho) >= limit:
            raise SchemaError(
                f"{spec.origin}: feature {column.name!r} (from {column.source}) alone tracks "
                f"{spec.population.target!r} with rank correlation {rho:+.3f} on the training "
                "rows: a leak, i.e. data recorded after the decision? Remove it, or raise "
                f"training.leak_corr above {abs(rho):.3f} if it is genuinely known in time"
            )


def _category_rate(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's category replaced by that category's positive rate (for the leak screen)."""
    keys = np.asarray(["\0" if v is None else str(v) for v in values])
    uniques, inverse = np.unique(keys, return_inverse=True)
    rates = np.bincount(inverse, weights=labels, minlength=uniques.size) / np.bincount(
        inverse, minlength=uniques.size
    )
    # too many distinct values (an id-like column) would trivially "separate" the classes
    if uniques.size > max(50, labels.size // 20):
        return np.full(labels.size, np.nan)
    return np.asarray(rates[inverse], dtype=np.float64)
