"""Opening the store: SQLite in WAL mode through sqlite-utils, migrated on open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from appliance.errors import HomeError
from appliance.store.migrations import MIGRATIONS, Migration

__all__ = ["Store", "connect", "migrate", "now_iso", "opened", "schema_version"]

BUSY_TIMEOUT_MS = 10_000


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds, the store's one time format."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Store(Database):
    """The store's connection: sqlite-utils, with write transactions that take the lock
    up front.

    sqlite-utils opens ``atomic()`` with a plain (deferred) ``BEGIN``. In WAL mode a
    transaction that reads and then writes fails at once with "database is locked" when
    another process commits between its read and its write (the busy timeout cannot help:
    its snapshot is stale). ``BEGIN IMMEDIATE`` takes the write lock first, so a second
    writer waits for the busy timeout instead. Nested blocks stay savepoints.
    """

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def connect(path: Path, *, migrate_schema: bool = True) -> Database:
    """Open (and by default migrate) the store at ``path``."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise HomeError(f"cannot open the store {path}: {exc}") from exc
    db = Store(conn)
    if migrate_schema:
        migrate(db)
    return db


@contextmanager
def opened(path: Path, *, migrate_schema: bool = False) -> Iterator[Database]:
    """A connection of one's own for a unit of work (a job step, a request's writes),
    closed when it ends."""
    db = connect(path, migrate_schema=migrate_schema)
    try:
        yield db
    finally:
        db.close()


def schema_version(db: Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT max(number) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every migration newer than the store's version; return the numbers applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    current = schema_version(db)
    applied = []
    for migration in sorted(migrations, key=lambda m: m.number):
        if migration.number <= current:
            continue
        # executescript() would commit on its own; run statement by statement instead
        with db.atomic():
            for statement in _statements(migration.sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                [migration.number, migration.name, now_iso()],
            )
        applied.append(migration.number)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into complete statements (triggers contain ';')."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
