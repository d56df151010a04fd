"""What the store remembers of the last publish (migration 7): per subject area its
extract version, per table its schema fingerprint, high-water mark and row count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["ExtractRecord", "TableMark", "extract_records", "record_publish", "table_marks"]


@dataclass(frozen=True)
class ExtractRecord:
    subject: str
    version: int
    path: str
    mode: str
    published_at: str


@dataclass(frozen=True)
class TableMark:
    table: str
    subject: str
    schema_sha256: str
    version: int
    high_water: int | None
    rows: int
    published_at: str


def extract_records(db: Database) -> dict[str, ExtractRecord]:
    rows = db.execute(
        "SELECT subject, version, path, mode, published_at FROM publish_extracts"
    ).fetchall()
    return {r[0]: ExtractRecord(*r) for r in rows}


def table_marks(db: Database) -> dict[str, TableMark]:
    rows = db.execute(
        "SELECT table_name, subject, schema_sha256, version, high_water, rows, published_at"
        " FROM publish_marks"
    ).fetchall()
    return {r[0]: TableMark(*r) for r in rows}


def record_publish(db: Database, extract: ExtractRecord, marks: Sequence[TableMark]) -> None:
    """Record one subject's publish (one transaction when called inside ``db.atomic()``)."""
    with db.atomic():
        db.execute(
            "INSERT INTO publish_extracts (subject, version, path, mode, published_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET"
            " version = excluded.version, path = excluded.path, mode = excluded.mode,"
            " published_at = excluded.published_at",
            [extract.subject, extract.version, extract.path, extract.mode, extract.published_at],
        )
        db.execute("DELETE FROM publish_marks WHERE subject = ?", [extract.subject])
        for m in marks:
            db.execute(
                "INSERT INTO publish_marks (table_name, subject, schema_sha256, version,"
                " high_water, rows, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [m.table, m.subject, m.schema_sha256, m.version, m.high_water, m.rows,
                 m.published_at],
            )  # fmt: skip
