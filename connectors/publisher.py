"""``appliance publish``: the published tables into one Tableau Hyper extract per subject
area (``publish/<subject>.hyper``) and the Arrow data set beside them (``dataset``).

Per subject: the rows come out of one read transaction of the store; each table's new
rows are written once, to Arrow IPC parts of the data set (a million rows each), which
Hyper bulk-loads with ``COPY`` (each part while the next is written) and the Flight SQL
endpoint serves. The extract is built in a temporary file (a
copy of the current one when appending), read back through Hyper and its row counts and
sums compared with what the store gave, and only then renamed over the old one: a
Tableau user holding the old file keeps reading it, and a crash or a full disk leaves it
intact. Then the data set's manifest is swapped and the store records the marks. If
the store's record, the extract and the manifest ever disagree (a publish cut off
between those steps), the subject is rebuilt in full; a table whose columns changed
starts a new extract version.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import audit
from appliance.home import DataHome
from appliance.store.db import now_iso
from connectors import hyper
from connectors.catalogue import TABLES, available_tables
from connectors.columns import PublishedTable
from connectors.dataset import DataSet, TableFiles, fsync_dir
from connectors.errors import PublishError
from connectors.marks import ExtractRecord, TableMark, record_publish, table_marks
from connectors.rows import read_batches, store_mark

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlite_utils import Database
    from tableauhyperapi import Connection, HyperProcess

__all__ = ["PublishReport", "SubjectReport", "TableReport", "data_folder", "publish",
           "publish_lock"]  # fmt: skip

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TableReport:
    name: str
    rows_added: int
    rows: int
    mark: int | None


@dataclass(frozen=True)
class SubjectReport:
    subject: str
    path: Path
    version: int
    mode: str
    """``full`` or ``incremental``."""
    reason: str
    tables: tuple[TableReport, ...]

    @property
    def rows_added(self) -> int:
        return sum(t.rows_added for t in self.tables)


@dataclass(frozen=True)
class PublishReport:
    subjects: tuple[SubjectReport, ...]
    seconds: float
    skipped: tuple[str, ...] = ()
    """Tables not published because their store tables do not exist yet."""

    @property
    def rows_added(self) -> int:
        return sum(s.rows_added for s in self.subjects)


def data_folder(home: DataHome) -> Path:
    """``publish/data``: the Arrow data set the Flight SQL endpoint serves."""
    return home.dir("publish") / "data"


@contextmanager
def publish_lock(home: DataHome) -> Iterator[None]:
    """One publish at a time per home (the kernel drops the lock if the process dies)."""
    folder = home.dir("publish")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError("another publish of this home is running; try again when it"
                               " has finished") from None  # fmt: skip
        yield
    finally:
        os.close(fd)


def publish(
    home: DataHome, db: Database, *, full: bool = False, progress: Progress = lambda _m: None,
    actor: str = "cli", tables: Sequence[PublishedTable] = TABLES,
) -> PublishReport:  # fmt: skip
    """Publish every available table (``full``: rebuild every extract from scratch)."""
    started = time.perf_counter()
    ready = available_tables(db, tables)
    skipped = tuple(t.name for t in tables if t not in ready)
    reports = []
    with publish_lock(home):
        for stale in home.dir("publish").glob(".*.hyper.*.tmp"):  # left by a killed publish
            stale.unlink(missing_ok=True)
        dataset = DataSet.open(data_folder(home))
        with hyper.hyper_process() as process:
            for subject in dict.fromkeys(t.subject for t in ready):
                members = [t for t in ready if t.subject == subject]
                job = _SubjectJob(home, db, process, dataset, subject, members, progress)
                report = job.run(full)
                audit.record(db, actor, "publish", f"extract/{subject}", {
                    "version": report.version, "mode": report.mode, "reason": report.reason,
                    "rows_added": report.rows_added,
                    "tables": {t.name: t.rows for t in report.tables},
                })  # fmt: skip
                reports.append(report)
        dataset.sweep()
    return PublishReport(tuple(reports), time.perf_counter() - started, skipped)


@dataclass
class _Loaded:
    """One table's rows written this run: how many, and their sums (for the check)."""

    rows: int = 0
    sums: list[float] = field(default_factory=list)


@dataclass
class _SubjectJob:
    home: DataHome
    db: Database
    process: HyperProcess
    dataset: DataSet
    subject: str
    tables: list[PublishedTable]
    progress: Progress

    @property
    def path(self) -> Path:
        return self.home.dir("publish") / f"{self.subject}.hyper"

    def run(self, full: bool) -> SubjectReport:
        marks = table_marks(self.db)
        changed = [t.name for t in self.tables
                   if t.name in marks and marks[t.name].schema_sha256 != t.schema_sha256()]
        previous = max((marks[t.name].version for t in self.tables if t.name in marks), default=0)
        version = previous + 1 if changed or previous == 0 else previous
        reason = self._why_full(full, marks, changed)
        if not any(t.incremental for t in self.tables):
            reason = reason or "its tables are rewritten on every publish"
        mode = "full" if reason else "incremental"
        self.progress(f"{self.subject}: {mode} publish" + (f" ({reason})" if reason else "")
                      + f", extract version {version}")  # fmt: skip
        tmp = self.path.with_name(f".{self.subject}.hyper.{os.getpid()}.tmp")
        try:
            if mode == "incremental":
                shutil.copyfile(self.path, tmp)
            results, files = self._build(tmp, mode, version, marks)
            _durable(tmp)
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        at = now_iso()
        self.dataset.commit(files, at)
        record_publish(
            self.db,
            ExtractRecord(self.subject, version, str(self.path.relative_to(self.home.root)),
                          mode, at),
            [TableMark(r.name, self.subject, t.schema_sha256(), version, r.mark, r.rows, at)
             for r, t in zip(results, self.tables, strict=True)],
        )  # fmt: skip
        return SubjectReport(self.subject, self.path, version, mode, reason, tuple(results))

    def _why_full(self, full: bool, marks: dict[str, TableMark], changed: list[str]) -> str:
        """Why the subject must be rebuilt, or "" when appending is safe."""
        if full:
            return "full refresh requested"
        if changed:
            return f"columns changed in {', '.join(changed)}"
        if not self.path.is_file():
            return "no extract yet"
        missing = [t.name for t in self.tables if t.name not in marks]
        if missing:
            return f"new table(s) {', '.join(missing)}"
        try:
            with hyper.open_extract(self.process, self.path, create=False) as conn:
                info = hyper.read_info(conn)
        except PublishError as exc:
            return f"the current extract is unreadable ({exc})"
        for t in self.tables:
            m, entry = marks[t.name], self.dataset.tables.get(t.name)
            if info.get(t.name) != (m.schema_sha256, m.version, m.rows, m.high_water):
                return f"{self.path.name} does not match the store's record of {t.name}"
            if entry is None or (entry.schema_sha256, entry.version, entry.rows, entry.mark) != (
                m.schema_sha256, m.version, m.rows, m.high_water
            ):
                return f"the Arrow data set does not match the store's record of {t.name}"
        return ""

    def _build(self, tmp: Path, mode: str, version: int, marks: dict[str, TableMark]
               ) -> tuple[list[TableReport], dict[str, TableFiles]]:  # fmt: skip
        results: list[TableReport] = []
        files: dict[str, TableFiles] = {}
        expected: dict[str, tuple[float, ...]] = {}
        self.db.execute("BEGIN")  # one snapshot of the store for every table of the subject
        try:
            with hyper.open_extract(self.process, tmp, create=mode == "full") as conn:
                for table in self.tables:
                    append = mode == "incremental" and table.incremental
                    report, entry, totals = self._table(conn, table, version, append, marks)
                    results.append(report)
                    files[table.name] = entry
                    expected[table.name] = totals
                for table in self.tables:
                    if table.overlay is not None:
                        hyper.run(conn, hyper.overlay_update_sql(table),
                                  what=f"{table.name}: updating {table.overlay.table} columns")
                hyper.write_info(conn, [
                    (r.name, t.schema_sha256(), version, r.rows, r.mark)
                    for r, t in zip(results, self.tables, strict=True)
                ], now_iso())  # fmt: skip
            self._check_file(tmp, expected)
        finally:
            self.db.execute("COMMIT")
        return results, files

    def _table(self, conn: Connection, table: PublishedTable, version: int, append: bool,
               marks: dict[str, TableMark]) -> tuple[TableReport, TableFiles, tuple[float, ...]]:
        after = marks[table.name].high_water if append else None
        upto = store_mark(self.db, table) if table.incremental else None
        if append:
            before = hyper.totals(conn, table)
        else:
            hyper.run(conn, [hyper.drop_table_sql(table.name), hyper.create_table_sql(table)],
                      what=f"creating {table.name}")
            before = (0.0,) * (1 + len(table.checks))
        loaded = _Loaded(sums=[0.0] * len(table.checks))
        batches = _summed(read_batches(self.db, table, after=after, upto=upto), table, loaded)
        parts: list[str] = []
        with hyper.CopyQueue(conn, table.name, what=f"loading rows into {table.name}") as copies:
            for part, count in self.dataset.write_parts(table.name, version, batches,
                                                        table.arrow_schema()):  # fmt: skip
                parts.append(part)
                if count:  # Hyper loads this part while the next is written
                    copies.submit((self.dataset.root / part).resolve())
        rows = loaded.rows
        entry = self._entry(table, version, append, tuple(parts), rows, upto)
        totals = (before[0] + rows, *(b + s for b, s in zip(before[1:], loaded.sums,
                                                            strict=True)))  # fmt: skip
        self.progress(f"{table.name}: {rows} row(s) {'appended' if append else 'written'},"
                      f" {int(totals[0])} in all")  # fmt: skip
        return TableReport(table.name, rows, int(totals[0]), upto), entry, totals

    def _entry(self, table: PublishedTable, version: int, append: bool, parts: tuple[str, ...],
               rows: int, upto: int | None) -> TableFiles:  # fmt: skip
        sha = table.schema_sha256()
        if not append:
            return TableFiles(sha, version, rows, parts, upto)
        old = self.dataset.tables[table.name]
        if rows == 0:
            for part in parts:
                (self.dataset.root / part).unlink(missing_ok=True)
            return TableFiles(sha, version, old.rows, old.files, upto)
        entry = TableFiles(sha, version, old.rows + rows, (*old.files, *parts), upto)
        return self.dataset.compacted(table.name, entry, table.arrow_schema())

    def _check_file(self, tmp: Path, expected: dict[str, tuple[float, ...]]) -> None:
        """Read the extract back as written to disk, in a connection of its own: Hyper
        finishes writing when the writing connection closes, and on a full disk that last
        write can fail without an error to the client."""
        from tableauhyperapi import HyperException

        try:
            with hyper.open_extract(self.process, tmp, create=False) as conn:
                self._check(conn, expected)
        except HyperException as exc:
            raise PublishError(f"read-back check failed for {self.subject}: the extract as"
                               f" written cannot be read ({exc.main_message}); the previous"
                               " extract is unchanged") from exc  # fmt: skip

    def _check(self, conn: Connection, expected: dict[str, tuple[float, ...]]) -> None:
        """Read the extract back through Hyper: counts and sums must match what was read."""
        for table in self.tables:
            got, want = hyper.totals(conn, table), expected[table.name]
            names = ("rows", *(f"sum({c})" for c in table.checks))
            for name, g, w in zip(names, got, want, strict=True):
                if not math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-6):
                    raise PublishError(f"read-back check failed for {table.name}: {name} is"
                                       f" {g} in the extract but {w} in the store;"
                                       " the previous extract is unchanged")  # fmt: skip
            if table.overlay is not None:
                stale = int(hyper.scalar(conn, hyper.overlay_mismatch_sql(table)))
                if stale:
                    raise PublishError(f"read-back check failed for {table.name}: {stale} rows"
                                       f" disagree with {table.overlay.table}")  # fmt: skip
        self.progress(f"{self.subject}: read back and checked "
                      f"({', '.join(t.name for t in self.tables)})")  # fmt: skip


def _summed(batches: Iterable[pa.RecordBatch], table: PublishedTable,
            loaded: _Loaded) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Pass batches on, counting rows and summing the check columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        loaded.rows += batch.num_rows
        for i, name in enumerate(table.checks):
            column = batch.column(name)
            if column.type == pa.bool_():
                column = pc.cast(column, pa.int64())
            total: Any = pc.sum(pc.cast(column, pa.float64())).as_py()
            loaded.sums[i] += float(total or 0.0)
        yield batch


def _durable(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())
