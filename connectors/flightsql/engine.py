"""Read-only SQL over the published Arrow data set, through an in-memory DuckDB.

Why DuckDB: it answers in Arrow without a row-by-row step, scans the memory-mapped Arrow
parts in place with projection and filter push-down, parses SQL so statements can be
classified rather than guessed at with regular expressions, and is one self-contained
wheel with no dependencies.

Each published table is a view over its parts (a ``pyarrow.dataset`` registered with
each cursor); a table kept current by another, like the outcome of a score, is a join.
The views live in catalog ``appliance``, schema ``published``. DuckDB runs with file
access off, extension loading off and its configuration locked, and only single SELECT
statements are executed: anything else is refused before it runs. ``SELECT * FROM
<table>`` (a BI tool's extract, a notebook's load) skips DuckDB: the parts' batches go
out as they lie in memory, the overlaid columns joined in with a sorted lookup. When
the manifest changes (a publish), the next query sees a fresh set of views; queries
already running finish on the files they opened.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.errors import ApplianceError
from connectors.catalogue import TABLES
from connectors.columns import PublishedTable
from connectors.dataset import MANIFEST, DataSet
from connectors.hyper import quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["CATALOG", "DB_SCHEMA", "QueryEngine", "QueryError", "QueryRefused", "view_sql"]

CATALOG = "appliance"
DB_SCHEMA = "published"


class QueryError(ApplianceError):
    """A query failed: not valid SQL, a missing table or column, a bad parameter."""

    exit_code = 4
    http_status = 400


class QueryRefused(QueryError):
    """A statement that is not one read-only query (a write, DDL, several statements)."""


_FULL_SCAN = re.compile(
    rf'select\s+\*\s+from\s+(?:(?:"?{CATALOG}"?\.)?"?{DB_SCHEMA}"?\.)?"?([a-z][a-z0-9_]*)"?',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Views:
    connection: duckdb.DuckDBPyConnection
    stamp: tuple[int, int]
    tables: tuple[PublishedTable, ...]
    parts: dict[str, Any]
    """table -> its ``pyarrow.dataset`` (registered on every cursor as ``<table>__parts``)."""
    dataset: DataSet


class QueryEngine:
    """Thread-safe: every call takes a cursor of its own from the current views."""

    def __init__(self, data_root: Path, tables: Sequence[PublishedTable] = TABLES,
                 threads: int | None = None) -> None:  # fmt: skip
        self.data_root = Path(data_root).resolve()
        self._catalogue = tuple(tables)
        self._threads = threads
        self._lock = threading.Lock()
        self._views: _Views | None = None

    def tables(self) -> tuple[PublishedTable, ...]:
        """The published tables that can be queried now."""
        return self._current().tables

    def check(self, sql: str) -> str:
        """The text of ``sql`` if it is exactly one SELECT; QueryRefused or QueryError if not."""
        import duckdb

        try:
            statements = self._current().connection.cursor().extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(_message(exc)) from exc
        if not statements:
            raise QueryRefused("the query is empty: send one SELECT statement")
        if len(statements) != 1:
            raise QueryRefused(f"send one statement at a time, not {len(statements)}")
        statement = statements[0]
        if statement.type != duckdb.StatementType.SELECT:
            kind = str(statement.type).rsplit(".", 1)[-1]
            raise QueryRefused(f"this endpoint is read-only: only SELECT queries are allowed,"
                               f" not {kind}")  # fmt: skip
        return str(statement.query).strip().rstrip(";").strip()

    def parameter_count(self, sql: str) -> int:
        import duckdb

        try:
            statement = self._current().connection.cursor().extract_statements(sql)[0]
        except duckdb.Error as exc:
            raise QueryError(_message(exc)) from exc
        return len(statement.named_parameters)

    def schema(self, sql: str, params: Sequence[Any] | None = None) -> pa.Schema:
        """The result schema of a checked query (unbound parameters taken as NULL)."""
        query = self.check(sql)
        whole = self._whole_table(query, params)
        if whole is not None:
            return whole.arrow_schema()
        if params is None:
            params = [None] * self.parameter_count(query)
        return self._run(query, params, lambda rel: rel.limit(0).to_arrow_table().schema)

    def reader(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 65_536
               ) -> pa.RecordBatchReader:  # fmt: skip
        """Stream a checked query's result in batches of at most ``batch_rows``."""
        query = self.check(sql)
        whole = self._whole_table(query, params)
        if whole is not None:
            return self._scan(self._current(), whole, batch_rows)
        return self._run(query, list(params), lambda rel: rel.to_arrow_reader(batch_rows))

    def _whole_table(self, query: str, params: Sequence[Any] | None) -> PublishedTable | None:
        """The table a plain ``SELECT * FROM <table>`` reads (served without DuckDB)."""
        match = _FULL_SCAN.fullmatch(query)
        if match is None or params:
            return None
        name = match.group(1).lower()
        return next((t for t in self._current().tables if t.name == name), None)

    def table_reader(self, name: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """A published table, whole (the plain Flight ``do_get`` by table name)."""
        if name not in {t.name for t in self.tables()}:
            raise QueryError(f"no published table named {name!r}; {self._hint()}")
        return self.reader(f"SELECT * FROM {quote(name)}", (), batch_rows)

    def _run(self, query: str, params: Sequence[Any], then: Any) -> Any:
        import duckdb

        views = self._current()
        cursor = views.connection.cursor()
        try:
            for name, parts in views.parts.items():
                cursor.register(f"{name}__parts", parts)
            cursor.execute(f"USE {CATALOG}.{DB_SCHEMA}")
            relation = cursor.sql(query, params=list(params) if params else None)
            return then(relation)
        except duckdb.Error as exc:
            message = _message(exc)
            if "does not exist" in message and "Table" in message:
                message = f"{message} ({self._hint()})"
            raise QueryError(message) from exc

    def _scan(self, views: _Views, table: PublishedTable, batch_rows: int
              ) -> pa.RecordBatchReader:  # fmt: skip
        """A whole table straight from its parts, overlaid columns looked up."""
        import pyarrow as pa

        name = table.name
        overlay = table.overlay if table.overlay and table.overlay.table in views.parts else None
        lookup = _Lookup(views.dataset, table) if overlay is not None else None

        def batches() -> Iterator[pa.RecordBatch]:
            for whole in views.dataset.batches(name):
                for start in range(0, whole.num_rows, batch_rows):
                    batch = whole.slice(start, batch_rows)
                    yield lookup.apply(batch) if lookup is not None else batch

        return pa.RecordBatchReader.from_batches(table.arrow_schema(), batches())

    def _hint(self) -> str:
        names = ", ".join(t.name for t in self.tables())
        return f"published tables: {names}" if names else "nothing is published yet:" \
            " run `appliance publish`"  # fmt: skip

    def _current(self) -> _Views:
        stamp = _stamp(self.data_root / MANIFEST)
        with self._lock:
            if self._views is None or self._views.stamp != stamp:
                self._views = self._build(stamp)
            return self._views

    def _build(self, stamp: tuple[int, int]) -> _Views:
        import duckdb
        import pyarrow.dataset as ds

        dataset = DataSet.open(self.data_root)
        config: dict[str, Any] = {"autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False}  # fmt: skip
        if self._threads:
            config["threads"] = self._threads
        con = duckdb.connect(":memory:", config=config)
        con.execute(f"ATTACH ':memory:' AS {CATALOG}")
        con.execute(f"CREATE SCHEMA {CATALOG}.{DB_SCHEMA}")
        con.execute(f"USE {CATALOG}.{DB_SCHEMA}")
        ready, parts = [], {}
        for table in self._catalogue:
            entry = dataset.tables.get(table.name)
            if entry is None or entry.schema_sha256 != table.schema_sha256():
                continue
            paths = [str(p) for p in entry.paths(dataset.root)]
            parts[table.name] = ds.dataset(paths, format="ipc", schema=table.arrow_schema())
            ready.append(table)
        for name, source in parts.items():
            con.register(f"{name}__parts", source)
        for table in ready:
            con.execute(view_sql(table, set(parts)))
        for name in parts:
            con.unregister(f"{name}__parts")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return _Views(con, stamp, tuple(ready), parts, dataset)

    def close(self) -> None:
        with self._lock:
            if self._views is not None:
                self._views.connection.close()
                self._views = None


def view_sql(table: PublishedTable, available: set[str]) -> str:
    """``CREATE VIEW`` for one table over its registered parts (joined to its overlay's)."""
    overlay = table.overlay
    if overlay is None or overlay.table not in available:
        columns = ", ".join(quote(c) for c in table.column_names)
        return (f"CREATE VIEW {quote(table.name)} AS SELECT {columns}"
                f" FROM {quote(table.name + '__parts')}")  # fmt: skip
    mapped = dict(overlay.columns)
    columns = ", ".join(
        f"o.{quote(mapped[c])} AS {quote(c)}" if c in mapped else f"t.{quote(c)}"
        for c in table.column_names
    )
    key = quote(overlay.key)
    return (f"CREATE VIEW {quote(table.name)} AS SELECT {columns}"
            f" FROM {quote(table.name + '__parts')} AS t LEFT JOIN"
            f" {quote(overlay.table + '__parts')} AS o ON t.{key} = o.{key}")  # fmt: skip


class _Lookup:
    """An overlay's columns by key, for batches of the overlaid table (sorted lookup)."""

    def __init__(self, dataset: DataSet, table: PublishedTable) -> None:
        import numpy as np
        import pyarrow as pa

        if table.overlay is None:
            raise ValueError(f"table {table.name} has no overlay")
        self.overlay = table.overlay
        self.table = table
        source = pa.Table.from_batches(list(dataset.batches(self.overlay.table)))
        keys = source.column(self.overlay.key).to_numpy()
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.values = {theirs: source.column(theirs).combine_chunks()
                       for _mine, theirs in self.overlay.columns}  # fmt: skip

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import numpy as np
        import pyarrow as pa

        ids = batch.column(self.overlay.key).to_numpy(zero_copy_only=False)
        if self.keys.size:
            at = np.minimum(np.searchsorted(self.keys, ids), self.keys.size - 1)
            found = self.keys[at] == ids
            index = pa.array(self.order[at], mask=~found)
        else:
            index = pa.nulls(len(ids), pa.int64())
        arrays = list(batch.columns)
        for mine, theirs in self.overlay.columns:
            i = batch.schema.get_field_index(mine)
            arrays[i] = self.values[theirs].take(index).cast(batch.schema.field(i).type)
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_ino)


def _message(exc: Exception) -> str:
    """DuckDB's message without its caret diagram."""
    return str(exc).split("\n\nLINE ")[0].strip()

