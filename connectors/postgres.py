"""`appliance publish --to postgresql://...`: the published tables copied into a
PostgreSQL database for Looker (or any SQL BI tool), with ``COPY``, idempotently.

The source is the Arrow data set ``appliance publish`` writes, so PostgreSQL holds
exactly what the extracts and the Flight SQL endpoint hold. Everything happens in one
transaction under an advisory lock: a reader sees the previous copy or the new one. A
bookkeeping table (``_appliance_publish``) remembers each table's schema fingerprint,
version and high-water mark; incremental tables get only the rows above the mark (and a
primary key on it, so a row can never be copied twice), the others are replaced whole;
a table whose columns changed is recreated. Running it twice changes nothing.
Tables and columns carry their documentation as comments.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from appliance.home import DataHome
from connectors.catalogue import TABLES
from connectors.columns import PublishedTable
from connectors.dataset import DataSet, TableFiles
from connectors.errors import ConnectorError, PublishError
from connectors.hyper import quote

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BOOKKEEPING", "check_url", "create_sql", "overlay_sql", "publish_postgres"]

BOOKKEEPING = "_appliance_publish"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK_ID = 0x4150504C  # "APPL": one publish per database at a time


def check_url(url: str) -> str:
    """``url`` if it is a PostgreSQL URL; ConnectorError naming the problem if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.path):
        raise ConnectorError(f"--to must be a PostgreSQL URL like postgresql://user@host:5432/db,"
                             f" not {_redacted(url)!r}")  # fmt: skip
    return url


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def create_sql(schema: str, table: PublishedTable) -> list[str]:
    """The table, its primary key (incremental tables) and its documentation comments."""
    name = f"{quote(schema)}.{quote(table.name)}"
    columns = [f"{quote(c.name)} {c.kind.postgres}{'' if c.nullable else ' NOT NULL'}"
               for c in table.columns]  # fmt: skip
    if table.key is not None:
        columns.append(f"PRIMARY KEY ({quote(table.key)})")
    statements = [f"CREATE TABLE {name} ({', '.join(columns)})",
                  f"COMMENT ON TABLE {name} IS {_literal(table.doc)}"]  # fmt: skip
    statements += [f"COMMENT ON COLUMN {name}.{quote(c.name)} IS {_literal(c.doc)}"
                   for c in table.columns]  # fmt: skip
    return statements


def overlay_sql(schema: str, table: PublishedTable) -> list[str]:
    """Bring an appended table's overlaid columns in line with its refreshing table."""
    if table.overlay is None:
        return []
    o = table.overlay
    target, source = f"{quote(schema)}.{quote(table.name)}", f"{quote(schema)}.{quote(o.table)}"
    key = quote(o.key)
    sets = ", ".join(f"{quote(mine)} = o.{quote(theirs)}" for mine, theirs in o.columns)
    differs = " OR ".join(f"t.{quote(m)} IS DISTINCT FROM o.{quote(s)}" for m, s in o.columns)
    cleared = ", ".join(f"{quote(m)} = NULL" for m, _ in o.columns)
    unset = " OR ".join(f"t.{quote(m)} IS NOT NULL" for m, _ in o.columns)
    return [
        f"UPDATE {target} AS t SET {sets} FROM {source} AS o WHERE t.{key} = o.{key}"
        f" AND ({differs})",
        f"UPDATE {target} AS t SET {cleared} WHERE ({unset}) AND NOT EXISTS"
        f" (SELECT 1 FROM {source} AS o WHERE o.{key} = t.{key})",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_postgres(
    home: DataHome, url: str, *, schema: str = "appliance", full: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
    tables: Sequence[PublishedTable] = TABLES,
) -> dict[str, int]:  # fmt: skip
    """Copy the published tables into ``schema`` of the database at ``url``; returns
    each table's row count there."""
    from connectors.publisher import data_folder

    check_url(url)
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ConnectorError(f"--pg-schema {schema!r} must be a lower-case SQL name")
    dataset = DataSet.open(data_folder(home))
    ready = [t for t in tables if t.name in dataset.tables
             and dataset.tables[t.name].schema_sha256 == t.schema_sha256()]  # fmt: skip
    if not ready:
        raise PublishError("nothing is published yet: run `appliance publish` first")
    psycopg = _psycopg()
    try:
        connection = psycopg.connect(url, connect_timeout=10, autocommit=False)
    except psycopg.Error as exc:
        raise ConnectorError(f"cannot connect to PostgreSQL at {_redacted(url)}: "
                             f"{str(exc).strip()}") from exc  # fmt: skip
    try:
        with connection:
            return _Copy(connection, schema, dataset, progress).run(ready, full)
    except psycopg.Error as exc:
        raise PublishError(f"PostgreSQL refused the copy, nothing was changed: "
                           f"{str(exc).strip()}") from exc  # fmt: skip
    finally:
        connection.close()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency of the appliance
        raise ConnectorError("psycopg is not installed: pip install 'psycopg[binary]'") from exc
    return psycopg


class _Copy:
    def __init__(self, connection: Any, schema: str, dataset: DataSet,
                 progress: Callable[[str], None]) -> None:  # fmt: skip
        self.connection = connection
        self.schema = schema
        self.dataset = dataset
        self.progress = progress

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql, params or None)

    def run(self, ready: list[PublishedTable], full: bool) -> dict[str, int]:
        book = f"{quote(self.schema)}.{quote(BOOKKEEPING)}"
        self.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
        self.execute(f"CREATE TABLE IF NOT EXISTS {book} (table_name text PRIMARY KEY,"
                     " schema_sha256 text NOT NULL, version bigint NOT NULL, high_water bigint,"
                     " rows bigint NOT NULL, published_at timestamptz NOT NULL)")  # fmt: skip
        known = {r[0]: r[1:] for r in self.execute(
            f"SELECT table_name, schema_sha256, version, high_water FROM {book}").fetchall()}
        counts = {}
        for table in ready:
            entry = self.dataset.tables[table.name]
            state = known.get(table.name)
            fresh = full or state is None or tuple(state[:2]) != (entry.schema_sha256,
                                                                   entry.version)  # fmt: skip
            counts[table.name] = self._table(table, entry, fresh, state)
        for table in ready:
            for statement in overlay_sql(self.schema, table):
                if table.overlay is not None and table.overlay.table in counts:
                    self.execute(statement)
        return counts

    def _table(self, table: PublishedTable, entry: TableFiles, fresh: bool,
               state: tuple[Any, ...] | None) -> int:  # fmt: skip
        name = f"{quote(self.schema)}.{quote(table.name)}"
        exists = self.execute("SELECT to_regclass(%s)", [f"{self.schema}.{table.name}"]
                              ).fetchone()[0] is not None  # fmt: skip
        after: int | None = None
        if fresh or not exists:
            self.execute(f"DROP TABLE IF EXISTS {name}")
            for statement in create_sql(self.schema, table):
                self.execute(statement)
        elif table.key is not None and state is not None:
            after = state[2]
        else:
            self.execute(f"TRUNCATE {name}")
        copied = self._copy(table, entry, after)
        rows = int(self.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        if rows != entry.rows:
            raise PublishError(f"PostgreSQL check failed for {table.name}: {rows} rows there,"
                               f" {entry.rows} published; nothing was changed")  # fmt: skip
        self.execute(
            f"INSERT INTO {quote(self.schema)}.{quote(BOOKKEEPING)} VALUES (%s, %s, %s, %s, %s,"
            " now()) ON CONFLICT (table_name) DO UPDATE SET schema_sha256 = excluded.schema_sha256,"
            " version = excluded.version, high_water = excluded.high_water, rows = excluded.rows,"
            " published_at = excluded.published_at",
            [table.name, entry.schema_sha256, entry.version, entry.mark, rows],
        )  # fmt: skip
        self.progress(f"postgresql {self.schema}.{table.name}: {copied} row(s) copied,"
                      f" {rows} in all")  # fmt: skip
        return rows

    def _copy(self, table: PublishedTable, entry: TableFiles, after: int | None) -> int:
        columns = ", ".join(quote(c) for c in table.column_names)
        sql = (f"COPY {quote(self.schema)}.{quote(table.name)} ({columns}) FROM STDIN"
               " WITH (FORMAT csv)")  # fmt: skip
        copied = 0
        with self.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for chunk, rows in _csv_chunks(entry, self.dataset, table, after):
                copy.write(chunk)
                copied += rows
        return copied


def _csv_chunks(entry: TableFiles, dataset: DataSet, table: PublishedTable,
                after: int | None) -> Iterator[tuple[bytes, int]]:  # fmt: skip
    """The parts' rows (those with key > ``after``) as CSV: strings quoted, NULL empty."""
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    from connectors.dataset import read_parts

    options = csv.WriteOptions(include_header=False)
    for whole in read_parts(entry.paths(dataset.root)):
        for start in range(0, whole.num_rows, 1 << 16):
            batch = whole.slice(start, 1 << 16).select(list(table.column_names))
            if after is not None and table.key is not None:
                batch = batch.filter(pc.greater(batch.column(table.key), after))
            if batch.num_rows:
                yield _csv(batch, options, csv), batch.num_rows


def _csv(batch: pa.RecordBatch, options: Any, csv: Any) -> bytes:
    sink = io.BytesIO()
    csv.write_csv(batch, sink, options)
    return sink.getvalue()
