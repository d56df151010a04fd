"""``KeyCache``: API-key checks for the request hot path.

The first time a key is presented it is verified against the store with the slow hash;
after that, a keyed BLAKE2b digest of the presented string finds it in memory in
microseconds. An entry older than ``recheck_s`` is re-read from the store before it is
trusted again, so a revoked (or deleted) key stops working within ``recheck_s`` seconds;
the re-read also stamps ``last_used_at`` (so that column is exact to ``recheck_s``).
Failed checks are remembered for ``recheck_s`` only: repeating one wrong key costs
nothing, and nothing is refused for long. Slow hashes run one at a time, so guessing at
an existing id costs at most one core; malformed keys and unknown or revoked ids are
refused without hashing.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.access.keys import ApiKey, parse_key, stored_credential
from appliance.errors import HomeError
from appliance.store.db import BUSY_TIMEOUT_MS, connect, now_iso

__all__ = ["KeyCache"]

_MAX_REFUSED = 10_000  # remembered failures; beyond this the oldest are forgotten


@dataclass
class _Entry:
    key: ApiKey
    checked_at: float


class KeyCache:
    """Thread-safe ``authenticate(presented) -> ApiKey | None`` over the store at ``db_path``.

    ``clock`` (monotonic seconds) is injectable for tests. One SQLite connection of its
    own, used under a lock; call ``close()`` when the service stops.
    """

    def __init__(self, db_path: Path, *, recheck_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not recheck_s >= 0:
            raise ValueError(f"recheck_s must be >= 0, got {recheck_s}")
        self.recheck_s = float(recheck_s)
        self._clock = clock
        self._pepper = secrets.token_bytes(32)  # digests mean nothing outside this process
        self._known: dict[bytes, _Entry] = {}
        self._refused: dict[bytes, float] = {}
        self._lock = threading.Lock()  # guards the maps and the connection
        self._hashing = threading.Lock()  # one slow hash at a time
        if not Path(db_path).is_file():
            raise HomeError(f"no store at {db_path}: `appliance init` creates one")
        self._db = connect(Path(db_path))  # migrated on open, so api_keys is there

    def authenticate(self, presented: str) -> ApiKey | None:
        """The live key ``presented`` is, or None. May read the store and run the slow hash."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        digest = self._digest(presented)
        with self._lock:
            settled, key = self._from_memory(digest, self._clock())
            if settled:
                return key
            credential = stored_credential(self._db, parsed[0])
            if credential is None or credential.key.revoked:
                self._remember_refusal(digest, self._clock())
                return None
        with self._hashing:
            with self._lock:  # a thread ahead in the queue may have checked this very key
                settled, key = self._from_memory(digest, self._clock())
            if settled:
                return key
            matches = credential.matches(presented)
            with self._lock:  # still hashing-locked: the next in the queue sees the answer
                now = self._clock()
                if not matches:
                    self._remember_refusal(digest, now)
                    return None
                self._known[digest] = _Entry(credential.key, now)
                self._stamp_used(credential.key.id)
                return credential.key

    def cached(self, presented: str) -> ApiKey | None:
        """The key if it is in memory and fresh, else None, touching neither the store nor
        the slow hash: an async caller tries this first and ``authenticate`` in a thread."""
        if not isinstance(presented, str):
            return None
        digest = self._digest(presented)
        with self._lock:
            entry = self._known.get(digest)
            if entry is None or self._clock() - entry.checked_at >= self.recheck_s:
                return None
            return entry.key

    def forget(self) -> None:
        """Drop everything remembered (the next check of every key goes to the store)."""
        with self._lock:
            self._known.clear()
            self._refused.clear()

    def close(self) -> None:
        with self._lock:
            self._known.clear()
            self._db.close()

    def _digest(self, presented: str) -> bytes:
        raw = presented.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, key=self._pepper, digest_size=32).digest()

    def _from_memory(self, digest: bytes, now: float) -> tuple[bool, ApiKey | None]:
        """``(True, answer)`` where memory settles it, re-reading a stale key (lock held)."""
        entry = self._known.get(digest)
        if entry is not None:
            if now - entry.checked_at < self.recheck_s:
                return True, entry.key
            return True, self._recheck(digest, entry, now)
        refused_at = self._refused.get(digest)
        return (refused_at is not None and now - refused_at < self.recheck_s), None

    def _recheck(self, digest: bytes, entry: _Entry, now: float) -> ApiKey | None:
        """Re-read a remembered key (lock held); drop it if it was revoked or is gone."""
        row = self._db.execute(
            "SELECT revoked_at FROM api_keys WHERE id = ?", [entry.key.id]
        ).fetchone()
        if row is None or row[0] is not None:
            del self._known[digest]
            self._remember_refusal(digest, now)
            return None
        self._stamp_used(entry.key.id)
        self._known[digest] = _Entry(entry.key, now)
        return entry.key

    def _stamp_used(self, key_id: str) -> None:
        """Record a use (lock held). Never waits for another writer: skipped while one
        holds the store, and stamped at the next re-check instead."""
        self._db.execute("PRAGMA busy_timeout = 0")
        try:
            self._db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL",
                [now_iso(), key_id],
            )
        except sqlite3.OperationalError:
            pass
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _remember_refusal(self, digest: bytes, now: float) -> None:
        if len(self._refused) >= _MAX_REFUSED:
            cutoff = now - self.recheck_s
            self._refused = {d: t for d, t in self._refused.items() if t >= cutoff}
            while len(self._refused) >= _MAX_REFUSED:
                self._refused.pop(next(iter(self._refused)))
        self._refused[digest] = now
