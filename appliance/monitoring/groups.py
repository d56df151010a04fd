"""Protected groups of logged predictions, resolved from the lake as training does.

Protected attributes are never model inputs, so the log does not hold them: each
prediction's population record (as logged with it) is joined, by the spec's own joins,
to the lake's tables (``customer.gender``); an age band is the age at the record's
decision date (the population's time column; the prediction's own date where the
record has none), cut at the spec's ``age_bands``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from appliance.features.builders import resolve, rows_of
from appliance.features.columns import as_days, as_float, as_text, is_date
from appliance.features.sources import FeatureSources
from appliance.monitoring.predictions import Logged
from appliance.usecase.spec import Protected, UseCaseSpec

__all__ = ["age_band_labels", "population_table", "protected_groups"]


def population_table(spec: UseCaseSpec, logged: Logged) -> pa.Table:
    """The population columns the protected attributes need, one row per prediction."""
    p = spec.population
    needed = {j.on for x in spec.protected if x.column.table for j in spec.tables
              if j.name == x.column.table}  # fmt: skip
    needed |= {x.column.column for x in spec.protected if x.column.table is None}
    columns: dict[str, Any] = {}
    for name in sorted(needed - {p.time}):
        values = [_text(row.get(name)) for row in logged.inputs]
        if name == p.entity:
            values = [v if v is not None else e for v, e in zip(values, logged.entity_ids,
                                                               strict=True)]  # fmt: skip
        elif name == p.id:
            values = [v if v is not None else a for v, a in zip(values, logged.application_ids,
                                                               strict=True)]  # fmt: skip
        columns[name] = pa.array(values, pa.string())
    if p.time:
        days = [_day(row.get(p.time)) or _day(at) for row, at in zip(logged.inputs, logged.at,
                                                                      strict=True)]  # fmt: skip
        columns[p.time] = pa.array(days, pa.date32())
    if not columns:
        return pa.table({"_row": pa.array(range(logged.rows), pa.int64())})
    return pa.table(columns)


def protected_groups(
    spec: UseCaseSpec, logged: Logged, sources: FeatureSources
) -> dict[str, np.ndarray]:
    """Attribute name -> one group label per prediction (None where unknown)."""
    if not spec.protected or logged.rows == 0:
        return {}
    view = rows_of(spec, population_table(spec, logged), sources)
    out = {}
    for attribute in spec.protected:
        column = resolve(view, attribute.column)
        if attribute.age_bands:
            out[attribute.name] = age_band_labels(attribute, column, view.as_of)
        else:
            out[attribute.name] = as_text(column)
    return out


def age_band_labels(
    attribute: Protected, column: pa.ChunkedArray, as_of: np.ndarray | None
) -> np.ndarray:
    """``under 25``, ``25-34``, ..., ``65+`` from a birth date (age at ``as_of``) or an age."""
    bands: Sequence[int] = attribute.age_bands
    if is_date(column.type):
        if as_of is None:
            return np.full(len(column), None, dtype=object)
        born = as_days(column)
        age = (as_of - born).astype("timedelta64[D]").astype(float) / 365.25
        age[np.isnat(born) | np.isnat(as_of)] = np.nan
    else:
        age = as_float(column)
    labels = [f"under {bands[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in pairwise(bands)]
    labels.append(f"{bands[-1]}+")
    index = np.searchsorted(np.asarray(bands, dtype=float), np.nan_to_num(age, nan=-1),
                            side="right")  # fmt: skip
    out = np.asarray([labels[i] for i in index], dtype=object)
    out[np.isnan(age)] = None
    return out


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _day(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
