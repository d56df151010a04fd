"""Where feature builders read joined tables and histories from.

``FeatureSources`` is the one boundary between feature code and storage. Training and
batch scoring read the lake through ``LakeSources``; real-time scoring keeps one
``LakeSources`` open so histories are indexed once, not per request; tests may hand in
``TableSources`` over in-memory tables. Every source records which dataset versions it
read, so a model's lineage names exactly the data behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from appliance.features.columns import as_days, as_float
from appliance.features.windows import EventIndex

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.home import DataHome
    from appliance.usecase.spec import History

__all__ = ["FeatureSources", "LakeSources", "TableSources", "build_event_index"]


class FeatureSources(Protocol):
    def table(self, dataset: str) -> pa.Table: ...

    def events(self, history: History, values: tuple[str, ...]) -> EventIndex: ...

    def lineage(self) -> list[dict[str, Any]]: ...


@dataclass
class TableSources:
    """In-memory datasets by name: for tests and for scoring files that carry everything."""

    tables: dict[str, pa.Table]
    _indexes: dict[tuple[str, tuple[str, ...]], EventIndex] = field(default_factory=dict)

    def table(self, dataset: str) -> pa.Table:
        from appliance.errors import NotFound

        if dataset not in self.tables:
            raise NotFound(f"no dataset named {dataset!r} among {', '.join(sorted(self.tables))}")
        return self.tables[dataset]

    def events(self, history: History, values: tuple[str, ...]) -> EventIndex:
        key = (history.name, values)
        if key not in self._indexes:
            self._indexes[key] = build_event_index(self.table(history.dataset), history, values)
        return self._indexes[key]

    def lineage(self) -> list[dict[str, Any]]:
        return [{"name": name, "rows": t.num_rows} for name, t in sorted(self.tables.items())]


class LakeSources:
    """Datasets read from the lake once and kept; histories indexed once per column set."""

    def __init__(self, home: DataHome, db: Database) -> None:
        self._home, self._db = home, db
        self._inner = TableSources({})

    def table(self, dataset: str) -> pa.Table:
        if dataset not in self._inner.tables:
            from appliance.lake import read_dataset

            self._inner.tables[dataset] = read_dataset(self._home, self._db, dataset)
        return self._inner.tables[dataset]

    def events(self, history: History, values: tuple[str, ...]) -> EventIndex:
        self.table(history.dataset)
        return self._inner.events(history, values)

    def lineage(self) -> list[dict[str, Any]]:
        from appliance.lake import dataset_versions

        out = []
        for name in sorted(self._inner.tables):
            versions = dataset_versions(self._db, name)
            out.append(
                {
                    "name": name,
                    "version": _combined([v.version for v in versions]),
                    "rows": sum(v.rows for v in versions),
                    "versions": [
                        {
                            "version": v.version,
                            "rows": v.rows,
                            "path": v.path,
                            "time_min": v.time_min,
                            "time_max": v.time_max,
                            "source_sha256": v.source_sha256,
                        }
                        for v in versions
                    ],
                }
            )
        return out


def _combined(versions: list[str]) -> str:
    """One version id for a dataset read as the union of its versions."""
    if len(versions) == 1:
        return versions[0]
    import hashlib

    return hashlib.sha256("\n".join(versions).encode()).hexdigest()


def build_event_index(table: pa.Table, history: History, values: tuple[str, ...]) -> EventIndex:
    """Index a history table by entity and date, with its known-at date per record."""
    keys = table.column(history.key)  # Arrow keys: the index hashes them without a Python copy
    day = as_days(table.column(history.time))
    known = None
    if history.known_at:
        stacked = np.stack([as_days(table.column(c)).astype("int64") for c in history.known_at])
        nat = np.datetime64("NaT").astype("int64")
        stacked = np.where(stacked == nat, np.iinfo(np.int64).min, stacked)
        latest = stacked.max(axis=0)
        known = np.where(latest == np.iinfo(np.int64).min, nat, latest).astype("datetime64[D]")
    columns = {name: as_float(table.column(name)) for name in values}
    return EventIndex.build(keys, day, known, columns)
