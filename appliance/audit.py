"""The audit log: an append-only, hash-chained record of who did what, and when.

Each entry's hash covers its own fields and the previous entry's hash, so editing
or deleting any row breaks the chain from that row on. Deleting rows at the tail
is caught too: SQLite's AUTOINCREMENT counter remembers the highest number issued.
Write entries inside the same transaction as the change they describe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from appliance.store.db import now_iso

__all__ = ["GENESIS", "AuditEntry", "ChainReport", "entry_hash", "record", "verify"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_broken: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None and self.problem is None


def entry_hash(
    prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, details: str
) -> str:
    """SHA-256 over the previous hash and this entry's fields, in a fixed encoding."""
    payload = json.dumps(
        [prev_hash, seq, at, actor, action, subject, details], ensure_ascii=False
    ).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def record(
    db: Database, actor: str, action: str, subject: str, details: Mapping[str, Any] | None = None
) -> AuditEntry:
    """Append one entry to the chain. Call inside the transaction of the change it records."""
    with db.atomic():
        last = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        counter = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
        prev_hash = last[1] if last else GENESIS
        seq = (counter[0] if counter else 0) + 1
        at = now_iso()
        body = json.dumps(dict(details or {}), sort_keys=True, ensure_ascii=False, default=str)
        digest = entry_hash(prev_hash, seq, at, actor, action, subject, body)
        db.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, at, actor, action, subject, body, prev_hash, digest],
        )
    return AuditEntry(seq, at, actor, action, subject, json.loads(body), prev_hash, digest)


def verify(db: Database) -> ChainReport:
    """Recompute the whole chain; name the first entry that does not verify."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    rows = db.execute(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log"
        " ORDER BY seq"
    )
    for seq, at, actor, action, subject, details, stored_prev, stored_hash in rows:
        count += 1
        if seq != expected_seq:
            return ChainReport(count, seq, f"entries {expected_seq}..{seq - 1} are missing")
        if stored_prev != prev_hash:
            return ChainReport(count, seq, "its link to the previous entry does not match")
        if entry_hash(prev_hash, seq, at, actor, action, subject, details) != stored_hash:
            return ChainReport(count, seq, "its contents were changed after it was written")
        prev_hash, expected_seq = stored_hash, seq + 1
    counter = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if counter and counter[0] >= expected_seq:
        return ChainReport(count, expected_seq, f"entries {expected_seq}..{counter[0]} are missing")
    return ChainReport(count)
