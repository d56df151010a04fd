"""Pure statistics for a data profile: a ``pyarrow.Table`` in, frozen dataclasses out.

Counts, missing rates, moments, quantiles and target rates use every row; pairwise
correlations and associations use a deterministic sample of at most
``ProfileConfig.sample_rows`` rows. Nothing here reads files or draws pictures.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from appliance.errors import SchemaError
from appliance.profile.alerts import find_alerts, high_cardinality
from appliance.profile.columns import as_float, column_kind, profile_column
from appliance.profile.pairwise import association_matrices
from appliance.profile.results import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    ColumnProfile,
    DatasetProfile,
    ProfileConfig,
)

__all__ = ["Progress", "binary_target", "duplicate_rows", "profile_table"]

Progress = Callable[[str], None]
"""Called with one short line per step, for a progress log."""


def binary_target(table: pa.Table, name: str) -> np.ndarray:
    """The target column as floats 1.0/0.0 (NaN where missing); SchemaError unless binary."""
    columns = ", ".join(table.column_names)
    if name not in table.column_names:
        raise SchemaError(f"target column {name!r} does not exist; the columns are: {columns}")
    kind = column_kind(table.schema.field(name).type)
    if kind not in (NUMERIC, BOOLEAN):
        raise SchemaError(
            f"target column {name!r} is {kind}, not binary: use a 0/1 or boolean column "
            f"(the columns are: {columns})"
        )
    y = as_float(table[name])
    values = np.unique(y[~np.isnan(y)])
    if values.size == 0 or not np.isin(values, (0.0, 1.0)).all():
        found = ", ".join(f"{v:g}" for v in values[:5]) or "only missing values"
        raise SchemaError(
            f"target column {name!r} is not binary (found {found}): use a 0/1 or boolean column "
            f"(the columns are: {columns})"
        )
    return y


def profile_table(
    table: pa.Table,
    *,
    name: str,
    target: str | None = None,
    versions: int = 1,
    config: ProfileConfig | None = None,
    progress: Progress | None = None,
) -> DatasetProfile:
    """Profile every column of ``table``; with ``target``, add target rates and leakage checks."""
    cfg = config or ProfileConfig()
    say = progress or (lambda _message: None)
    y = binary_target(table, target) if target is not None else None
    pick = _sample_index(table.num_rows, cfg)
    columns: list[ColumnProfile] = []
    numeric: dict[str, np.ndarray] = {}
    categorical: dict[str, np.ndarray] = {}
    if y is not None and target is not None:
        numeric[target] = y[pick]
    for col_name in table.column_names:
        say(f"column {col_name}")
        col_y = None if col_name == target else y
        column, sampled = profile_column(table[col_name], col_name, col_y, cfg)
        columns.append(column)
        if sampled is None or col_name == target or not _associable(column, cfg):
            continue
        group = numeric if column.kind == NUMERIC else categorical
        if len(group) < cfg.max_corr_columns:
            group[col_name] = sampled[pick]
    say("duplicate rows")
    duplicates = duplicate_rows(table)
    sample = min(table.num_rows, cfg.sample_rows)
    say(f"correlations and associations on {sample:,} rows")
    matrices = association_matrices(numeric, categorical)
    positive_rate = float(np.nanmean(y)) if y is not None else None
    alerts = find_alerts(columns, matrices, target, duplicates, table.num_rows, cfg)
    return DatasetProfile(
        name=name,
        rows=table.num_rows,
        columns=tuple(columns),
        memory_bytes=table.nbytes,
        duplicate_rows=duplicates,
        versions=versions,
        sample_rows=sample,
        target=target,
        positive_rate=positive_rate,
        matrices=matrices,
        alerts=alerts,
    )


def duplicate_rows(table: pa.Table) -> int | None:
    """Rows that repeat an earlier row exactly; None where Arrow cannot group a column type."""
    if table.num_rows == 0 or table.num_columns == 0:
        return 0
    try:
        distinct = table.group_by(table.column_names).aggregate([]).num_rows
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return table.num_rows - distinct


def _sample_index(rows: int, cfg: ProfileConfig) -> np.ndarray | slice:
    if rows <= cfg.sample_rows:
        return slice(None)
    rng = np.random.default_rng(cfg.seed)
    return np.sort(rng.choice(rows, size=cfg.sample_rows, replace=False))


def _associable(column: ColumnProfile, cfg: ProfileConfig) -> bool:
    if column.kind not in (NUMERIC, BOOLEAN, CATEGORICAL) or (column.distinct or 0) < 2:
        return False
    return column.kind == NUMERIC or not high_cardinality(column, cfg)
