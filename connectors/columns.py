"""What a published table is: typed, documented columns and where its rows come from.

A published table is one declarative ``PublishedTable`` value (see ``catalogue``): its
name, the subject area (which ``.hyper`` file it lands in), a documentation line, typed
columns and either a SELECT over the store or a function yielding rows. Everything that
writes or serves it (Hyper, Arrow, the Flight SQL endpoint, PostgreSQL, LookML) reads
the types from here. No heavy imports: pyarrow loads inside ``arrow_type``/``arrow_schema``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlite_utils import Database

__all__ = [
    "COLUMN_TYPES",
    "Column",
    "ColumnType",
    "Overlay",
    "PublishedTable",
    "RowFunction",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

RowFunction = Callable[["Database"], Iterable[Sequence[Any]]]
"""A function source: the store in, rows (values in column order) out."""


@dataclass(frozen=True)
class ColumnType:
    """One logical type and its spelling in each system the tables reach."""

    name: str
    hyper: str
    postgres: str
    duckdb: str
    lookml: str
    """``number``, ``string``, ``yesno`` or ``time`` (a dimension group)."""
    numeric: bool = False

    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        return {
            "text": pa.string(),
            "bigint": pa.int64(),
            "double": pa.float64(),
            "boolean": pa.bool_(),
            "timestamp": pa.timestamp("us"),
            "date": pa.date32(),
        }[self.name]


COLUMN_TYPES = {
    t.name: t
    for t in (
        ColumnType("text", "TEXT", "text", "VARCHAR", "string"),
        ColumnType("bigint", "BIGINT", "bigint", "BIGINT", "number", numeric=True),
        ColumnType("double", "DOUBLE PRECISION", "double precision", "DOUBLE", "number",
                   numeric=True),
        ColumnType("boolean", "BOOLEAN", "boolean", "BOOLEAN", "yesno"),
        ColumnType("timestamp", "TIMESTAMP", "timestamp", "TIMESTAMP", "time"),
        ColumnType("date", "DATE", "date", "DATE", "time"),
    )
}
"""Every column type, by name. Timestamps are UTC without a zone (Tableau has none)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """A key of ``COLUMN_TYPES``."""
    doc: str
    """What the column means, for docs/connectors.md and LookML descriptions."""
    nullable: bool = True

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"column name {self.name!r} must be lower_snake_case")
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if not self.doc.strip():
            raise ValueError(f"column {self.name} needs a documentation line")

    @property
    def kind(self) -> ColumnType:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class Overlay:
    """Columns of an append-only table that a smaller, fully refreshed table of the same
    subject keeps current (the outcome of a score, known weeks after the score)."""

    table: str
    """The refreshing table, published in the same subject area."""
    key: str
    """The column both tables share (one row per key in ``table``)."""
    columns: tuple[tuple[str, str], ...]
    """``(column here, column in table)`` pairs."""


@dataclass(frozen=True)
class PublishedTable:
    name: str
    subject: str
    """The subject area: its ``publish/<subject>.hyper`` holds this table."""
    doc: str
    columns: tuple[Column, ...]
    sql: str | None = None
    """A SELECT over the store returning the columns in order (timestamps as ISO text)."""
    rows: RowFunction | None = None
    """Or a function yielding the rows (for what SQL cannot flatten)."""
    key: str | None = None
    """An increasing integer column: new rows are appended above its high-water mark.
    None: the table is rewritten whole on every publish."""
    mark_sql: str | None = None
    """``SELECT max(...)`` giving the store's current high-water mark (with ``key``)."""
    requires: tuple[str, ...] = ()
    """Store tables it reads; while one is missing the table is not published."""
    checks: tuple[str, ...] = ()
    """Numeric columns whose sums are compared after writing (row counts always are)."""
    overlay: Overlay | None = None
    measures: tuple[tuple[str, str, str], ...] = field(default=())
    """LookML measures beyond ``count``: ``(name, type, sql on ${TABLE})``."""
    primary_key: tuple[str, ...] = ()
    """Columns (never empty) that identify a row, where the store guarantees it; the
    incremental ``key`` when not given. Flight SQL's ``GetPrimaryKeys`` answers with it."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or not _NAME.fullmatch(self.subject):
            raise ValueError(f"table {self.name!r}/{self.subject!r}: names are lower_snake_case")
        if (self.sql is None) == (self.rows is None):
            raise ValueError(f"table {self.name}: give exactly one of sql and rows")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"table {self.name}: column names must be unique and non-empty")
        if (self.key is None) != (self.mark_sql is None):
            raise ValueError(f"table {self.name}: key and mark_sql go together")
        if self.key is not None and (self.sql is None or self.column(self.key).type != "bigint"):
            raise ValueError(f"table {self.name}: an incremental key is a bigint of a SQL table")
        for name in self.checks:
            if not self.column(name).kind.numeric and self.column(name).type != "boolean":
                raise ValueError(f"table {self.name}: check column {name} is not numeric")
        if self.overlay is not None:
            for mine, _theirs in self.overlay.columns:
                self.column(mine)
        if any(self.column(name).nullable for name in self.unique_key):
            raise ValueError(f"table {self.name}: a primary key column cannot be empty")

    @property
    def unique_key(self) -> tuple[str, ...]:
        """The primary key: ``primary_key``, else the incremental ``key``, else none."""
        return self.primary_key or ((self.key,) if self.key is not None else ())

    @property
    def incremental(self) -> bool:
        return self.key is not None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise ValueError(f"table {self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def schema_sha256(self) -> str:
        """A fingerprint of the names, types and nullability: a change is a new version."""
        shape = [[c.name, c.type, c.nullable] for c in self.columns]
        return hashlib.sha256(json.dumps([self.name, shape]).encode()).hexdigest()

    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema(
            [pa.field(c.name, c.kind.arrow_type(), nullable=c.nullable) for c in self.columns]
        )
