"""Feature builders: from population rows and their sources to raw feature columns.

One function per builder kind of the use-case spec. Each takes the population rows
being scored or trained on (with their decision dates) and returns named numpy
columns, before any fitted encoding. History and hazard builders only ever see
records dated strictly before each row's decision date, so the same code is correct
at training time and at scoring time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from appliance.errors import SchemaError
from appliance.features.columns import as_days, as_float, as_text, is_categorical, is_date
from appliance.features.sources import FeatureSources
from appliance.features.windows import payment_history, window_stats
from appliance.usecase.spec import (
    AgeFeature,
    ColumnFeature,
    ColumnRef,
    FeatureSpec,
    HourFeature,
    PaymentHistoryFeature,
    RatioFeature,
    RegionalHazardFeature,
    UseCaseSpec,
    WindowStatsFeature,
)

__all__ = ["RawColumn", "Rows", "build_raw", "resolve", "rows_of"]

_DAYS_PER = {"years": 365.25, "months": 30.4375, "days": 1.0}


@dataclass(frozen=True)
class RawColumn:
    """A feature's values before encoding: float64 (NaN missing) or text (None missing)."""

    name: str
    kind: str  # "numeric" | "categorical"
    values: np.ndarray
    source: str
    spec: FeatureSpec | None = None


@dataclass(frozen=True)
class Rows:
    """The population rows being featurised and what every builder needs about them."""

    table: pa.Table
    as_of: np.ndarray | None  # datetime64[D] decision dates, None without a time column
    sources: FeatureSources
    spec: UseCaseSpec
    _aligned: dict[str, pa.Table] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return self.table.num_rows


def rows_of(spec: UseCaseSpec, table: pa.Table, sources: FeatureSources) -> Rows:
    time = spec.population.time
    as_of = as_days(table.column(time)) if time else None
    return Rows(table, as_of, sources, spec)


def resolve(rows: Rows, ref: ColumnRef) -> pa.ChunkedArray:
    """A population column, or a joined table's column aligned to the population rows."""
    if ref.table is None:
        return _column(rows.table, ref.column, rows.spec.population.dataset)
    join = rows.spec.table(ref.table)
    if join.name not in rows._aligned:
        table = rows.sources.table(join.dataset)
        _column(table, join.key, join.dataset)
        wanted = _column(rows.table, join.on, "the population")
        rows._aligned[join.name] = _take(table, join.key, wanted)
    return _column(rows._aligned[join.name], ref.column, join.dataset)


def build_raw(rows: Rows, features: tuple[FeatureSpec, ...]) -> list[RawColumn]:
    """Every raw feature column the spec's builders produce, in spec order."""
    out: list[RawColumn] = []
    for feature in features:
        out.extend(_BUILD[type(feature)](rows, feature))
    return out


def _column_feature(rows: Rows, f: Any) -> list[RawColumn]:
    column = resolve(rows, f.column)
    kind = f.kind or ("categorical" if is_categorical(column.type) else "numeric")
    if is_date(column.type):
        raise SchemaError(f'feature {f.name!r}: {f.column} is a date; use builder = "age"')
    values = as_text(column) if kind == "categorical" else as_float(column)
    return [RawColumn(f.name, kind, values, str(f.column), f)]


def _ratio(rows: Rows, f: Any) -> list[RawColumn]:
    top = as_float(resolve(rows, f.numerator))
    bottom = as_float(resolve(rows, f.denominator))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bottom != 0, top / bottom, np.nan)
    return [RawColumn(f.name, "numeric", ratio, f"{f.numerator} / {f.denominator}", f)]


def _age(rows: Rows, f: Any) -> list[RawColumn]:
    dates = as_days(resolve(rows, f.column))
    as_of = _need_as_of(rows, f.name)
    days = (as_of - dates).astype("timedelta64[D]").astype(np.float64)
    days[np.isnat(dates) | np.isnat(as_of)] = np.nan
    return [RawColumn(f.name, "numeric", days / _DAYS_PER[f.unit], f"age of {f.column}", f)]


def _hour(rows: Rows, f: Any) -> list[RawColumn]:
    import pyarrow.compute as pc

    column = resolve(rows, f.column)
    if pa.types.is_timestamp(column.type):
        hours = pc.add(pc.hour(column), pc.divide(pc.cast(pc.minute(column), pa.float64()), 60))
        return [RawColumn(f.name, "numeric", as_float(hours), f"hour of {f.column}", f)]
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    parts = pc.extract_regex(text, r"^(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})")
    hour = pc.cast(pc.struct_field(parts, "h"), pa.float64())
    minute = pc.cast(pc.struct_field(parts, "m"), pa.float64())
    value = as_float(pc.add(hour, pc.divide(minute, 60.0)))
    value[(value < 0) | (value >= 24)] = np.nan
    return [RawColumn(f.name, "numeric", value, f"hour of {f.column}", f)]


def _payment_history(rows: Rows, f: Any) -> list[RawColumn]:
    history = rows.spec.history(f.history)
    values = tuple(c for c in (f.billed, f.paid, f.days_late, f.limit) if c)
    index = rows.sources.events(history, values)
    columns = payment_history(
        index, _entity_keys(rows, history.on), _need_as_of(rows, f.history), f.windows,
        billed=f.billed, paid=f.paid, days_late=f.days_late, limit=f.limit,
    )  # fmt: skip
    where = f"{history.name} ({history.dataset})"
    return [RawColumn(f.prefix + k, "numeric", v, where, f) for k, v in columns.items()]


def _window_stats(rows: Rows, f: Any) -> list[RawColumn]:
    history = rows.spec.history(f.history)
    wanted = dict(f.stats)
    index = rows.sources.events(history, tuple(wanted))
    columns = window_stats(
        index, _entity_keys(rows, history.on), _need_as_of(rows, f.history), f.windows, wanted
    )
    where = f"{history.name} ({history.dataset})"
    return [RawColumn(f.prefix + k, "numeric", v, where, f) for k, v in columns.items()]


def _regional_hazard(rows: Rows, f: Any) -> list[RawColumn]:
    from appliance.features.hazard import hazard_history

    labels = rows.sources.table(f.dataset)
    regions = as_text(resolve(rows, f.region))
    counts = hazard_history(labels, regions, _need_as_of(rows, "regional_hazard"), f.years)
    where = f"satellite hazard labels ({f.dataset})"
    return [RawColumn(k, "numeric", v, where, f) for k, v in counts.items()]


_BUILD = {
    ColumnFeature: _column_feature,
    RatioFeature: _ratio,
    AgeFeature: _age,
    HourFeature: _hour,
    PaymentHistoryFeature: _payment_history,
    WindowStatsFeature: _window_stats,
    RegionalHazardFeature: _regional_hazard,
}


def _entity_keys(rows: Rows, on: str | None) -> np.ndarray:
    column = on or rows.spec.population.entity
    if column is None:
        raise SchemaError("history features need population.entity (or the history's `on`)")
    return as_text(_column(rows.table, column, "the population"))


def _need_as_of(rows: Rows, what: str) -> np.ndarray:
    if rows.as_of is None:
        raise SchemaError(f"{what}: window features need population.time (the decision date)")
    return rows.as_of


def _column(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise SchemaError(
            f"{where} has no column {name!r}; it has: {', '.join(table.column_names)}"
        )
    return table.column(name)


def _take(table: pa.Table, key: str, wanted: pa.ChunkedArray) -> pa.Table:
    from appliance.features.columns import take_by_key

    return take_by_key(table, key, wanted)
