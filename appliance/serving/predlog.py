"""The prediction log: every scored request written to the store's ``predictions`` table
by one background writer, so a request never waits for the disk.

``submit()`` appends a :class:`PredictionRecord` to an in-memory queue and returns. A
writer thread with its own SQLite connection takes what is queued and inserts it in one
transaction when the oldest queued record is ``flush_interval_s`` old, when
``max_batch`` records are waiting, or at once when ``flush()``/``close()`` ask.

What a crash can lose
    Each batch is committed with ``synchronous = FULL`` (the WAL is fsynced at every
    commit), so a committed record survives ``kill -9`` and a power cut alike. What is
    lost is what had not been committed yet: the records still queued (``depth``). While
    the writer keeps up (the normal case: a batch of 1,000 rows commits in well under
    100 ms) that is at most the records submitted in the last ``flush_interval_s``
    (0.1 s by default) plus the time one batch takes to commit. If the store is failing,
    the queue grows (up to ``max_queue``) and all of it is at risk until the store
    recovers; ``healthy`` is then False and ``depth`` shows how much.

A full queue
    ``submit()`` waits up to ``submit_timeout_s`` (50 ms) for room, then drops the record,
    counts it in ``dropped`` and logs an error (the first drop, then at most once a
    second with the running count). It never raises into the request.

A failing store
    A locked, missing or full database does not stop the writer: it keeps the batch,
    marks the log unhealthy, retries with exponential backoff (up to ``retry_max_s``)
    and carries on where it stopped once a write succeeds. A row the store refuses
    for itself (a duplicate request id and role) is dropped, counted and logged; the
    rest of its batch is written.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import HomeError
from appliance.store.db import now_iso

__all__ = ["ROLES", "PredictionLog", "PredictionRecord", "encode_json"]

ROLES = ("production", "challenger", "shadow")
"""Which alias produced a prediction; ``shadow`` is scored and logged, never returned."""

_BUSY_TIMEOUT_MS = 500
_COLUMNS = (
    "request_id", "role", "served", "at", "model", "version", "entity_id", "application_id",
    "input", "features", "probability", "score", "decision", "reasons", "latency_ms", "key_id",
    "kind", "prediction",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO predictions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PredictionRecord:
    """One model's answer to one request, as the log keeps it.

    ``input``, ``features`` and ``reasons`` are encoded to JSON by the writer thread, off
    the request's path: do not change them after ``submit()``. NaN and infinities become
    ``null``; values JSON cannot hold (numpy scalars, dates) are written as numbers or text.
    """

    request_id: str
    model: str
    version: int
    role: str
    served: bool
    input: Mapping[str, Any]
    features: Mapping[str, Any]
    probability: float | None
    decision: str
    latency_ms: float
    score: float | None = None
    kind: str = "classification"
    prediction: float | None = None
    """A regression's predicted amount (``kind`` ``regression``); None for a classifier."""
    reasons: Sequence[Any] = ()
    entity_id: str | None = None
    application_id: str | None = None
    key_id: str | None = None
    at: str = field(default_factory=now_iso)
    """ISO-8601 UTC time the request arrived."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.role == "shadow" and self.served:
            raise ValueError("a shadow prediction is never served")

    def row(self) -> tuple[Any, ...]:
        """The values for an INSERT, in the order of the table's columns."""
        return (
            str(self.request_id), self.role, int(bool(self.served)), str(self.at),
            str(self.model), int(self.version), _text(self.entity_id),
            _text(self.application_id), encode_json(self.input), encode_json(self.features),
            _real(self.probability), _real(self.score), str(self.decision),
            encode_json(list(self.reasons)), float(self.latency_ms), _text(self.key_id),
            self.kind, _real(self.prediction),
        )  # fmt: skip


def encode_json(value: Any) -> str:
    """Strict JSON text for ``value``: NaN and infinities as null, other odd values as
    their ``item()`` (numpy scalars) or their text."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, default=_plain)
    except ValueError:  # a NaN or an infinity somewhere: rebuild without them
        return json.dumps(_finite(value), allow_nan=False, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_finite(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str | int | bool) and value is not None:
        return _finite(_plain(value))
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _real(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class PredictionLog:
    """A batched, non-blocking writer of :class:`PredictionRecord` rows (see the module
    docstring for what a crash can lose and what happens when the queue is full)."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        flush_interval_s: float = 0.1,
        max_batch: int = 1000,
        max_queue: int = 50_000,
        submit_timeout_s: float = 0.05,
        retry_max_s: float = 2.0,
    ) -> None:
        if flush_interval_s <= 0 or submit_timeout_s < 0 or retry_max_s <= 0:
            raise ValueError("flush_interval_s and retry_max_s must be > 0, submit_timeout_s >= 0")
        if max_batch < 1 or max_queue < max_batch:
            raise ValueError("need 1 <= max_batch <= max_queue")
        self.db_path = Path(db_path)
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.submit_timeout_s = submit_timeout_s
        self.retry_max_s = retry_max_s
        self._queue: collections.deque[PredictionRecord] = collections.deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer waits here
        self._room = threading.Condition(self._lock)  # submitters wait here when full
        self._progress = threading.Condition(self._lock)  # flush() waits here
        self._oldest_at = 0.0  # monotonic time the oldest queued record arrived
        self._accepted = 0
        self._settled = 0  # written or dropped by the writer
        self._in_flight = 0
        self._flush_upto = 0
        self._written = 0
        self._dropped = 0
        self._healthy = True
        self._last_error: str | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._drop_logged_at = -math.inf
        self._conn: sqlite3.Connection | None = None

    # -- what the service reads ---------------------------------------------------------
    @property
    def depth(self) -> int:
        """Records submitted and not yet written (queued plus the batch being written)."""
        with self._lock:
            return len(self._queue) + self._in_flight

    @property
    def written(self) -> int:
        return self._written

    @property
    def dropped(self) -> int:
        """Records lost on purpose: queue full, log closed, or refused by the store."""
        return self._dropped

    @property
    def healthy(self) -> bool:
        """False while the last write failed (the writer is retrying)."""
        return self._healthy

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``close()`` while the writer thread lives."""
        return self._thread is not None and self._thread.is_alive() and not self._closing

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> PredictionLog:
        """Check the store has the ``predictions`` table and start the writer thread."""
        if self._thread is not None:
            return self
        try:
            conn = sqlite3.connect(str(self.db_path))
            try:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'predictions'"
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise HomeError(f"cannot open the store {self.db_path}: {exc}") from exc
        if not found:
            raise HomeError(
                f"the store {self.db_path} has no predictions table; "
                "open it with appliance.store.connect() to migrate it first"
            )
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record``; False (and counted in ``dropped``) if it could not be."""
        with self._lock:
            if not self._closing and len(self._queue) >= self.max_queue:
                deadline = time.monotonic() + self.submit_timeout_s
                while len(self._queue) >= self.max_queue and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._room.wait(left)
            refused = self._closing or len(self._queue) >= self.max_queue
            if refused:
                self._dropped += 1
            else:
                if not self._queue:
                    self._oldest_at = time.monotonic()
                self._queue.append(record)
                self._accepted += 1
                if len(self._queue) == 1 or len(self._queue) >= self.max_batch:
                    self._work.notify()
        if refused:
            self._warn_drop("the log is closed" if self._closing else "the queue is full")
        return not refused

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Write everything submitted so far now; True once it is all written (or dropped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            self._flush_upto = max(self._flush_upto, target)
            self._work.notify()
            while self._settled < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._progress.wait(left)
        return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Refuse new records, write the queued ones and stop the writer (graceful shutdown).

        True if everything was written within ``timeout``; otherwise the writer goes on
        retrying in the background (a daemon thread) and what is left is logged.
        """
        with self._lock:
            self._closing = True
            self._work.notify_all()
            self._room.notify_all()
        thread = self._thread
        if thread is None:
            left = self.depth
            if left:
                log.error("prediction log closed before it started: %d records not written", left)
            return left == 0
        thread.join(timeout)
        if thread.is_alive():
            log.error(
                "prediction log: %d records not written yet at shutdown (%s)",
                self.depth,
                self._last_error,
            )
            return False
        return True

    # -- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                try:
                    self._write(batch)
                except Exception:  # a bug must not kill the writer: count the batch lost
                    log.exception("prediction log: %d records lost", len(batch))
                    self._settle(len(batch), refused=len(batch))
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _take(self) -> list[PredictionRecord] | None:
        """Wait until a batch is due and take it; None once closing with nothing left."""
        with self._lock:
            while True:
                if self._queue:
                    due_at = self._oldest_at + self.flush_interval_s
                    now = time.monotonic()
                    forced = self._closing or self._flush_upto > self._settled
                    if forced or now >= due_at or len(self._queue) >= self.max_batch:
                        break
                    self._work.wait(due_at - now)
                elif self._closing:
                    return None
                else:
                    self._work.wait()
            size = min(len(self._queue), self.max_batch)
            batch = [self._queue.popleft() for _ in range(size)]
            self._in_flight = size
            # what is left arrived while we waited: due at once, the writer is behind
            self._oldest_at = -math.inf
            self._room.notify_all()
            return batch

    def _write(self, batch: list[PredictionRecord]) -> None:
        rows: list[tuple[Any, ...]] = []
        refused = 0
        for record in batch:
            try:
                rows.append(record.row())
            except Exception as exc:  # a bad record must not stop the writer
                refused += 1
                log.error("prediction log: request %s not loggable: %s", record.request_id, exc)
        attempt = 0
        while rows:
            try:
                refused += self._insert(rows)
                break
            except sqlite3.Error as exc:
                self._failed(exc)
                time.sleep(min(self.retry_max_s, 0.05 * 2**attempt))
                attempt += 1
        if rows and not self._healthy:
            log.warning("prediction log: the store accepts writes again")
            self._healthy, self._last_error = True, None
        self._settle(len(batch), refused=refused)

    def _settle(self, size: int, *, refused: int) -> None:
        with self._lock:
            self._written += size - refused
            self._dropped += refused
            self._settled += size
            self._in_flight = 0
            self._progress.notify_all()

    def _insert(self, rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` in one transaction; return how many the store refused as rows."""
        conn = self._connection()
        try:
            return _transaction(conn, rows, one_by_one=False)
        except _ROW_ERRORS:  # one bad row must not sink its batch: again, row by row
            return _transaction(conn, rows, one_by_one=True)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(str(self.db_path), isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _failed(self, exc: sqlite3.Error) -> None:
        first = self._healthy
        self._healthy, self._last_error = False, f"{type(exc).__name__}: {exc}"
        if first:
            log.error(
                "prediction log: cannot write to %s (%s); retrying, %d records queued",
                self.db_path,
                exc,
                self.depth,
            )
        if self._conn is not None:  # a fresh connection on the next attempt
            self._conn.close()
            self._conn = None

    def _warn_drop(self, why: str) -> None:
        now = time.monotonic()
        if now - self._drop_logged_at >= 1.0:
            self._drop_logged_at = now
            log.error(
                "prediction log: %s, record dropped (%d dropped so far, store %s)",
                why,
                self._dropped,
                "healthy" if self._healthy else f"failing: {self._last_error}",
            )


_ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
)
"""What a single row can provoke (constraints, values SQLite cannot bind); anything
else (locked, full, missing table) is the store's problem and is retried."""


def _transaction(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], *, one_by_one: bool) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        refused = 0
        if not one_by_one:
            conn.executemany(_INSERT, rows)
        for row in rows if one_by_one else ():
            conn.execute("SAVEPOINT one_row")
            try:
                conn.execute(_INSERT, row)
            except _ROW_ERRORS as exc:
                conn.execute("ROLLBACK TO one_row")
                refused += 1
                log.error("prediction log: store refused request %s (%s): %s", row[0], row[1], exc)
            conn.execute("RELEASE one_row")
        conn.execute("COMMIT")
        return refused
    except BaseException:
        if conn.in_transaction:
            # if even that fails, the connection is dropped and reopened on the next attempt
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
