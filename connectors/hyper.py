"""Tableau Hyper: the process (telemetry off, no log file), and the SQL the extracts need.

The statements are built as values by pure functions (tested without Hyper); the few
functions taking a connection run them. Bulk loads go through ``COPY ... FROM`` an
Arrow IPC file (the Hyper server reads the path itself, so it must be absolute); one
statement per ``execute_command``. A ``CopyQueue`` runs the COPYs of a table's parts on
a worker thread, so the next part is written while Hyper loads the last (the Hyper API
releases the GIL while a statement runs). ``tableauhyperapi`` loads only inside these
functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from connectors.columns import PublishedTable
from connectors.errors import ConnectorError, PublishError

if TYPE_CHECKING:
    from tableauhyperapi import Connection, HyperProcess

__all__ = [
    "INFO_TABLE",
    "SCHEMA",
    "CopyQueue",
    "copy_sql",
    "create_table_sql",
    "drop_table_sql",
    "hyper_process",
    "info_rows",
    "open_extract",
    "overlay_mismatch_sql",
    "overlay_update_sql",
    "quote",
    "read_info",
    "run",
    "scalar",
    "totals",
    "totals_sql",
    "write_info",
]

SCHEMA = "Extract"
"""Tableau's schema for extract tables."""
INFO_TABLE = "extract_info"
"""One row per table of the extract: its schema fingerprint, version, rows and mark."""


def quote(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return f"{quote(SCHEMA)}.{quote(name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_table_sql(table: PublishedTable) -> str:
    columns = ", ".join(
        f"{quote(c.name)} {c.kind.hyper}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    )
    return f"CREATE TABLE {_qualified(table.name)} ({columns})"


def drop_table_sql(table: str) -> str:
    return f"DROP TABLE IF EXISTS {_qualified(table)}"


def copy_sql(table: str, path: Path) -> str:
    """Bulk-load an Arrow IPC file (an absolute path: Hyper's server process reads it)."""
    if not path.is_absolute():
        raise ValueError(f"COPY needs an absolute path, not {path}")
    return f"COPY {_qualified(table)} FROM {_literal(str(path))} WITH (FORMAT ARROWFILE)"


def totals_sql(table: PublishedTable, where: str = "") -> str:
    sums = "".join(f", sum({_as_number(table, c)})" for c in table.checks)
    return f"SELECT count(*){sums} FROM {_qualified(table.name)}{where}"


def _as_number(table: PublishedTable, column: str) -> str:
    if table.column(column).type == "boolean":
        return f"CASE WHEN {quote(column)} THEN 1 ELSE 0 END"
    return f"CAST({quote(column)} AS DOUBLE PRECISION)"


def overlay_update_sql(table: PublishedTable) -> list[str]:
    """Bring the overlaid columns in line with the refreshing table (rows that differ)."""
    if table.overlay is None:
        raise ValueError(f"table {table.name} has no overlay")
    o, key = table.overlay, quote(table.overlay.key)
    target, source = _qualified(table.name), _qualified(o.table)
    sets = ", ".join(f"{quote(mine)} = o.{quote(theirs)}" for mine, theirs in o.columns)
    differs = " OR ".join(
        f"t.{quote(mine)} IS DISTINCT FROM o.{quote(theirs)}" for mine, theirs in o.columns
    )
    cleared = ", ".join(f"{quote(mine)} = NULL" for mine, _ in o.columns)
    unset = " OR ".join(f"{quote(mine)} IS NOT NULL" for mine, _ in o.columns)
    return [
        f"UPDATE {target} AS t SET {sets} FROM {source} AS o WHERE t.{key} = o.{key}"
        f" AND ({differs})",
        f"UPDATE {target} SET {cleared} WHERE ({unset})"
        f" AND {key} NOT IN (SELECT {key} FROM {source})",
    ]


def overlay_mismatch_sql(table: PublishedTable) -> str:
    """Rows whose overlaid columns disagree with the refreshing table (0 after a publish)."""
    if table.overlay is None:
        raise ValueError(f"table {table.name} has no overlay")
    o, key = table.overlay, quote(table.overlay.key)
    differs = " OR ".join(
        f"t.{quote(mine)} IS DISTINCT FROM o.{quote(theirs)}" for mine, theirs in o.columns
    )
    return (
        f"SELECT count(*) FROM {_qualified(table.name)} AS t LEFT JOIN"
        f" {_qualified(o.table)} AS o ON t.{key} = o.{key} WHERE {differs}"
    )


def info_rows(entries: Sequence[tuple[str, str, int, int, int | None]], at: str) -> list[str]:
    """The statements that rewrite the extract's info table from
    ``(table, schema_sha256, version, rows, mark)`` entries."""
    info = _qualified(INFO_TABLE)
    statements = [
        f"DROP TABLE IF EXISTS {info}",
        f"CREATE TABLE {info} (table_name TEXT NOT NULL, schema_sha256 TEXT NOT NULL,"
        " extract_version BIGINT NOT NULL, row_count BIGINT NOT NULL, high_water BIGINT,"
        " published_at TIMESTAMP NOT NULL)",
    ]
    for name, sha, version, rows, mark in entries:
        statements.append(
            f"INSERT INTO {info} VALUES ({_literal(name)}, {_literal(sha)}, {int(version)},"
            f" {int(rows)}, {'NULL' if mark is None else int(mark)}, {_literal(at)})"
        )
    return statements


@contextmanager
def hyper_process() -> Iterator[HyperProcess]:
    """A Hyper server for this process: no usage data sent, no hyperd.log written."""
    try:
        from tableauhyperapi import HyperException, HyperProcess, Telemetry
    except ImportError as exc:  # pragma: no cover - a dependency of the appliance
        raise ConnectorError("tableauhyperapi is not installed: pip install tableauhyperapi"
                             ) from exc  # fmt: skip
    try:
        process = HyperProcess(
            telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU,
            parameters={"log_config": ""},
        )
    except HyperException as exc:
        raise ConnectorError(f"could not start Hyper: {exc}") from exc
    with process:
        yield process


@contextmanager
def open_extract(process: HyperProcess, path: Path, *, create: bool) -> Iterator[Connection]:
    """A connection to the extract at ``path`` (a new, empty one with ``create``)."""
    from tableauhyperapi import Connection, CreateMode, HyperException

    mode = CreateMode.CREATE_AND_REPLACE if create else CreateMode.NONE
    try:
        connection = Connection(process.endpoint, str(path), mode)
    except HyperException as exc:
        raise PublishError(f"cannot open the extract {path}: {exc.main_message}") from exc
    with connection:
        if create:
            connection.execute_command(f"CREATE SCHEMA IF NOT EXISTS {quote(SCHEMA)}")
        yield connection


def run(connection: Connection, statements: Sequence[str], *, what: str) -> None:
    """Execute statements one at a time; a Hyper error becomes a PublishError on ``what``."""
    from tableauhyperapi import HyperException

    for statement in statements:
        try:
            connection.execute_command(statement)
        except HyperException as exc:
            raise PublishError(f"{what}: Hyper refused it: {exc.main_message}") from exc


def scalar(connection: Connection, query: str) -> Any:
    return connection.execute_scalar_query(query)


def totals(connection: Connection, table: PublishedTable) -> tuple[float, ...]:
    """``(rows, sum of each check column...)`` of a table in the extract, as floats."""
    row = connection.execute_list_query(totals_sql(table))[0]
    return tuple(float(v) if v is not None else 0.0 for v in row)


def read_info(connection: Connection) -> dict[str, tuple[str, int, int, int | None]]:
    """``table -> (schema_sha256, version, rows, mark)`` from an extract ({} if it has none)."""
    from tableauhyperapi import TableName

    if not connection.catalog.has_table(TableName(SCHEMA, INFO_TABLE)):
        return {}
    rows = connection.execute_list_query(
        f"SELECT table_name, schema_sha256, extract_version, row_count, high_water"
        f" FROM {_qualified(INFO_TABLE)}"
    )
    return {r[0]: (r[1], int(r[2]), int(r[3]), None if r[4] is None else int(r[4]))
            for r in rows}  # fmt: skip


def write_info(connection: Connection, entries: Sequence[tuple[str, str, int, int, int | None]],
               at: str) -> None:  # fmt: skip
    run(connection, info_rows(entries, at), what=f"the {INFO_TABLE} table")


class CopyQueue:
    """COPY a table's part files into the extract one after another on a worker thread.

    ``submit`` returns at once; the caller goes on writing the next part while Hyper
    loads this one (Hyper parallelises a COPY itself, so one at a time is enough). The
    connection belongs to the queue until it is closed: leaving the ``with`` block waits
    for every COPY and raises the first failure as a PublishError; after a failure,
    ``submit`` raises it at once rather than let more parts be written; if the block
    itself raised, pending COPYs are dropped and the running one is waited for.
    """

    def __init__(self, connection: Connection, table: str, *, what: str) -> None:
        self._connection = connection
        self._table = table
        self._what = what
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hyper-copy")
        self._futures: list[Future[None]] = []

    def submit(self, path: Path) -> None:
        """Queue the COPY of one Arrow IPC part (an absolute path)."""
        self._raise_failed()
        statement = copy_sql(self._table, path)
        self._futures.append(self._pool.submit(run, self._connection, [statement],
                                               what=self._what))  # fmt: skip

    def _raise_failed(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                future.result()

    def __enter__(self) -> CopyQueue:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self._pool.shutdown(wait=True, cancel_futures=kind is not None)
        if kind is None:
            for future in self._futures:
                future.result()
