from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from appliance import audit


def _fill(db: Database, n: int = 5) -> None:
    for i in range(n):
        audit.record(db, "alice", "thing.done", f"subject-{i}", {"i": i, "note": "ação"})


def _without_guards(db: Database) -> None:
    """What an attacker with file access would do first."""
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("DROP TRIGGER audit_log_no_delete")


def test_an_untouched_chain_verifies(db: Database) -> None:
    _fill(db)
    report = audit.verify(db)
    assert report.ok and report.entries == 5


def test_entries_link_to_their_predecessor(db: Database) -> None:
    first = audit.record(db, "a", "x", "s")
    second = audit.record(db, "b", "y", "t", {"k": 1})
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    assert second.details == {"k": 1}


def test_the_table_refuses_updates_and_deletes(db: Database) -> None:
    _fill(db, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE seq = 1")


@pytest.mark.parametrize("field", ["actor", "action", "subject", "details", "at"])
def test_an_edited_entry_is_named(db: Database, field: str) -> None:
    _fill(db)
    _without_guards(db)
    db.execute(f"UPDATE audit_log SET {field} = 'tampered' WHERE seq = 3")
    report = audit.verify(db)
    assert not report.ok and report.first_broken == 3
    assert "changed" in (report.problem or "")


def test_a_deleted_entry_in_the_middle_is_named(db: Database) -> None:
    _fill(db)
    _without_guards(db)
    db.execute("DELETE FROM audit_log WHERE seq = 2")
    report = audit.verify(db)
    assert report.first_broken == 3 and "missing" in (report.problem or "")


def test_deleting_the_newest_entries_is_caught(db: Database) -> None:
    _fill(db)
    _without_guards(db)
    db.execute("DELETE FROM audit_log WHERE seq >= 4")
    report = audit.verify(db)
    assert report.first_broken == 4 and "4..5" in (report.problem or "")


def test_a_rewritten_hash_still_breaks_the_next_link(db: Database) -> None:
    _fill(db)
    _without_guards(db)
    row = db.execute(
        "SELECT seq, at, actor, action, subject, prev_hash FROM audit_log WHERE seq = 2"
    ).fetchone()
    forged = audit.entry_hash(row[5], row[0], row[1], "mallory", row[3], row[4], "{}")
    db.execute("UPDATE audit_log SET actor='mallory', details='{}', hash=? WHERE seq = 2", [forged])
    report = audit.verify(db)
    assert report.first_broken == 3


def test_cli_verify_names_the_broken_entry(run_cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    _fill(db)
    assert run_cli("audit", "verify").exit_code == 0
    _without_guards(db)
    db.execute("UPDATE audit_log SET subject = 'x' WHERE seq = 4")
    outcome = run_cli("audit", "verify")
    assert outcome.exit_code == 6
    assert "entry 4" in outcome.stderr and "Traceback" not in outcome.stderr
