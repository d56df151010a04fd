from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from appliance.store.db import connect, migrate, schema_version
from appliance.store.migrations import MIGRATIONS, Migration


def test_store_opens_in_wal_with_foreign_keys_and_busy_timeout(db: Database) -> None:
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_every_migration_is_recorded_once(db: Database) -> None:
    rows = db.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    assert rows == [(m.number, m.name) for m in MIGRATIONS]
    assert migrate(db) == []  # idempotent
    assert schema_version(db) == MIGRATIONS[-1].number


def test_foundation_tables_exist(db: Database) -> None:
    expected = {"datasets", "dataset_versions", "ingest_runs", "quarantine", "audit_log"}
    assert expected <= set(db.table_names())


def test_a_failing_migration_leaves_the_previous_schema(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.db")
    broken = Migration(99, "half", "CREATE TABLE half_done (x INTEGER);\nCREATE TABLE oops (;\n")
    with pytest.raises(Exception, match="syntax error"):
        migrate(db, [*MIGRATIONS, broken])
    assert "half_done" not in db.table_names()
    assert schema_version(db) == MIGRATIONS[-1].number


def test_foreign_keys_are_enforced(db: Database) -> None:
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO ingest_runs (dataset, source_file, source_sha256, schema_sha256,"
            " started_at, status) VALUES ('nope', 'f', 'x', 'y', 'now', 'running')"
        )


def test_an_ok_run_must_account_for_every_row(db: Database) -> None:
    import sqlite3

    db.execute("INSERT INTO datasets VALUES ('d', 's', 'now')")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute(
            "INSERT INTO ingest_runs (dataset, source_file, source_sha256, schema_sha256,"
            " started_at, status, rows_in, rows_ok, rows_quarantined)"
            " VALUES ('d', 'f', 'x', 'y', 'now', 'ok', 10, 7, 2)"
        )


def test_a_read_then_write_transaction_survives_a_writer_in_another_connection(
    tmp_path: Path,
) -> None:
    """A deferred BEGIN would fail at once here ("database is locked"): the other
    connection commits between this transaction's read and its write. The store's
    transactions take the write lock first, so the other writer waits instead."""
    import threading

    path = tmp_path / "s.db"
    first, second = connect(path), connect(path)
    first.execute("CREATE TABLE counter (n INTEGER)")
    first.execute("INSERT INTO counter VALUES (0)")
    other_done = threading.Event()

    def other_writer() -> None:
        second.execute("UPDATE counter SET n = n + 10")
        other_done.set()

    with first.atomic():
        (n,) = first.execute("SELECT n FROM counter").fetchone()
        thread = threading.Thread(target=other_writer)
        thread.start()
        assert not other_done.wait(0.3), "the other writer got in during this transaction"
        first.execute("UPDATE counter SET n = ?", [n + 1])
    thread.join(timeout=10)
    assert other_done.is_set()
    assert first.execute("SELECT n FROM counter").fetchone() == (11,)
    first.close()
    second.close()
