"""Reading a published table's rows out of the store as typed Arrow record batches.

The store keeps times as ISO-8601 text and booleans as 0/1; here they become Arrow
timestamps (UTC, no zone), dates and booleans, column by column with Arrow's kernels.
A value that does not fit its column's type is a ``PublishError`` naming the table,
column and value. Call inside one read transaction so rows and marks agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from connectors.columns import Column, PublishedTable
from connectors.errors import PublishError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlite_utils import Database

__all__ = ["BATCH_ROWS", "read_batches", "store_mark", "to_batch"]

BATCH_ROWS = 131_072


def store_mark(db: Database, table: PublishedTable) -> int:
    """The store's current high-water mark of an incremental table (0 when empty)."""
    if table.mark_sql is None:
        raise ValueError(f"table {table.name} is not incremental")
    row = db.execute(table.mark_sql).fetchone()
    return int(row[0] or 0) if row else 0


def read_batches(
    db: Database, table: PublishedTable, *, after: int | None = None, upto: int | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The table's rows as record batches; for an incremental table only those with
    ``after < key <= upto``, in key order."""
    if table.rows is not None:
        rows = iter(table.rows(db))
        while chunk := _take(rows, batch_rows):
            yield to_batch(table, chunk)
        return
    query, params = table.sql or "", []
    if table.key is not None:
        query = f"SELECT * FROM ({table.sql}) WHERE {table.key} > ? AND {table.key} <= ?" \
                f" ORDER BY {table.key}"  # fmt: skip
        params = [after or 0, upto if upto is not None else store_mark(db, table)]
    cursor = db.execute(query, params)
    while chunk := cursor.fetchmany(batch_rows):
        yield to_batch(table, chunk)


def _take(rows: Iterator[Sequence[Any]], n: int) -> list[Sequence[Any]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == n:
            break
    return chunk


def to_batch(table: PublishedTable, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    """Rows (values in column order, store encodings) as one typed record batch."""
    import pyarrow as pa

    width = len(table.columns)
    if any(len(row) != width for row in rows):
        raise PublishError(f"table {table.name}: its source gave rows of the wrong width"
                           f" (expected {width} values)")  # fmt: skip
    values = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    arrays = [_column(table, c, list(v)) for c, v in zip(table.columns, values, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema())


def _column(table: PublishedTable, column: Column, values: list[Any]) -> pa.Array:
    import pyarrow as pa

    if not column.nullable and any(v is None for v in values):
        row = next(i for i, v in enumerate(values) if v is None)
        raise PublishError(f"table {table.name}, column {column.name}: empty value in row"
                           f" {row + 1} of a batch, but the column is NOT NULL")  # fmt: skip
    try:
        if column.type == "timestamp":
            return _timestamps(pa.array(values, pa.string()))
        if column.type == "date":
            return _dates(pa.array(values, pa.string()))
        if column.type == "boolean":
            return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        if column.type == "text":
            return pa.array([v if v is None or isinstance(v, str) else str(v)
                             for v in values], pa.string())  # fmt: skip
        return pa.array(values, column.kind.arrow_type())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise PublishError(f"table {table.name}, column {column.name}: a value is not a"
                           f" {column.type}: {exc}") from exc  # fmt: skip


def _timestamps(text: pa.Array) -> pa.Array:
    """ISO-8601 text (with or without a zone; a bare date is midnight) -> UTC, no zone."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.if_else(pc.equal(pc.utf8_length(text), 10),
                      pc.binary_join_element_wise(text, pa.scalar("T00:00:00"), ""), text)
    zoned = pc.match_substring_regex(text, r"([+-]\d\d:?\d\d|Z)$")
    text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, pa.scalar("+00:00"), ""))
    return pc.cast(text, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))


def _dates(text: pa.Array) -> pa.Array:
    """ISO dates, or the date part of ISO date-times."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.utf8_slice_codeunits(text, 0, 10), pa.date32())
