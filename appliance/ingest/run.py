"""One ingest run: a file and its source schema in; lake version, quarantine and an
accounted run record out. Every input row ends in the lake or in quarantine."""

from __future__ import annotations

import os
import shutil
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlite_utils import Database

from appliance import audit
from appliance.errors import IngestError, UnreadableFile
from appliance.home import DataHome
from appliance.ingest.cleaning import clean_batch, output_schema
from appliance.ingest.keys import KeySet, hash_keys
from appliance.ingest.lock import dataset_lock
from appliance.ingest.parts import ParquetPart
from appliance.ingest.problems import Problems
from appliance.ingest.reader import MalformedRow, SourceReader
from appliance.ingest.schema import SourceSchema
from appliance.lake import file_sha256, iter_batches
from appliance.store import ingest_records as records
from appliance.store.ingest_records import IngestRun, NewVersion, QuarantineCount

__all__ = ["IngestResult", "ingest_file"]

Progress = Callable[[int, int], None]  # (bytes read so far, file size)
_META = ("_record", "_column", "_reason", "_raw_line")


@dataclass(frozen=True)
class IngestResult:
    run: IngestRun
    unchanged: bool
    quarantine: list[QuarantineCount]


def ingest_file(
    home: DataHome,
    db: Database,
    path: Path,
    schema: SourceSchema,
    *,
    actor: str = "cli",
    progress: Progress | None = None,
    wait_s: float = 30.0,
) -> IngestResult:
    """Ingest ``path`` with ``schema``; a no-op if this file was ingested with it before.

    Ingests of one dataset run one at a time; this waits up to ``wait_s`` for another."""
    if not path.is_file():
        raise IngestError(f"{path} is not a file")
    sha256 = file_sha256(path)
    with dataset_lock(home, schema.name, wait_s):
        _settle_interrupted(home, db, schema.name, actor)
        done = records.completed_run_for(db, schema.name, sha256, schema.fingerprint)
        if done is not None:
            return IngestResult(done, True, records.quarantine_counts(db, done.id))
        run_id = records.start_run(
            db, schema.name, schema.path, path.name, sha256, schema.fingerprint
        )
        return _run(home, db, path, schema, run_id, actor, progress)


def _run(
    home: DataHome,
    db: Database,
    path: Path,
    schema: SourceSchema,
    run_id: int,
    actor: str,
    progress: Progress | None,
) -> IngestResult:
    job = _Ingestion(home, db, schema, run_id)
    try:
        job.consume(SourceReader(path, schema), progress)
    except UnreadableFile as exc:
        job.abandon()
        kept = _keep_intact(home, schema.name, run_id, path)
        records.fail_run(db, run_id, str(exc), kept)
        audit.record(db, actor, "ingest.failed", schema.name, {"run": run_id, "error": str(exc)})
        raise UnreadableFile(str(exc), kept_at=kept) from exc
    except OSError as exc:  # the disk, not the data: full, read-only, gone
        job.abandon()
        problem = f"cannot ingest {path.name}: {exc.strerror or exc} ({exc.filename or 'writing'})"
        records.fail_run(db, run_id, problem, None)
        audit.record(db, actor, "ingest.failed", schema.name, {"run": run_id, "error": problem})
        raise IngestError(f"{problem}; nothing was added to the lake") from exc
    except BaseException as exc:
        job.abandon()
        records.fail_run(db, run_id, f"{type(exc).__name__}: {exc}", None)
        raise
    return job.commit(actor)


def _settle_interrupted(home: DataHome, db: Database, dataset: str, actor: str) -> None:
    """Runs still 'running' while we hold the lock died mid-way (kill -9, power cut):
    mark them failed and remove their temporary files. The lake never saw them."""
    for run in records.running_runs(db, dataset):
        for area in ("lake", "quarantine"):
            home.inside(area, dataset, f".tmp-run-{run.id}.parquet").unlink(missing_ok=True)
        problem = "interrupted: the process stopped before the run finished; nothing was added"
        records.fail_run(db, run.id, problem, None)
        audit.record(db, actor, "ingest.interrupted", dataset, {"run": run.id})


@dataclass(frozen=True)
class _Cleaned:
    """One batch after cleaning, with the key hashes of its otherwise valid rows."""

    raw: pa.RecordBatch
    typed: pa.RecordBatch
    problems: Problems
    keyed: np.ndarray | None  # row numbers whose keys were hashed
    key_hashes: np.ndarray | None


def _clean(raw: pa.RecordBatch, schema: SourceSchema) -> _Cleaned:
    """The per-batch work that needs no shared state, so it runs on a worker thread."""
    typed, problems = clean_batch(raw, schema)
    if not schema.primary_key:
        return _Cleaned(raw, typed, problems, None, None)
    usable = pc.invert(problems.invalid_mask())
    keyed = np.flatnonzero(usable.to_numpy(zero_copy_only=False))
    keys = typed.filter(usable)
    hashes = hash_keys([keys.column(k) for k in schema.primary_key])
    return _Cleaned(raw, typed, problems, keyed, hashes)


def _keep_intact(home: DataHome, dataset: str, run_id: int, path: Path) -> str:
    """Copy an unreadable file, byte for byte, into quarantine; returns its home path."""
    target_dir = home.inside("quarantine", dataset, "files")
    target_dir.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.name)[:100]
    target = target_dir / f"run-{run_id}-{safe}"
    shutil.copyfile(path, target)
    return str(target.relative_to(home.root))


class _Ingestion:
    """The state of one run while batches stream through it."""

    def __init__(self, home: DataHome, db: Database, schema: SourceSchema, run_id: int) -> None:
        self.home, self.db, self.schema, self.run_id = home, db, schema, run_id
        self.clean = ParquetPart(
            home.inside("lake", schema.name), f"run-{run_id}", output_schema(schema)
        )
        raw_fields = [pa.field(c.header, pa.string()) for c in schema.columns]
        quarantine_schema = pa.schema(
            [pa.field("_record", pa.int64())]
            + [pa.field(n, pa.string()) for n in _META[1:]]
            + raw_fields
        )
        self.rejects = ParquetPart(
            home.inside("quarantine", schema.name), f"run-{run_id}", quarantine_schema
        )
        self.reasons: Counter[tuple[str | None, str]] = Counter()
        self.records = 0
        self.malformed: list[MalformedRow] = []
        self.keys = self._existing_keys()
        self.time_range: list[object] = [None, None]

    def _existing_keys(self) -> KeySet | None:
        """The keys already in the lake, read a batch at a time (key columns only)."""
        if not self.schema.primary_key:
            return None
        keys = KeySet()
        columns = list(self.schema.primary_key)
        for batch in iter_batches(self.home, self.db, self.schema.name, columns=columns):
            keys.add([batch.column(k) for k in columns])
        return keys

    def consume(self, reader: SourceReader, progress: Progress | None) -> None:
        """Clean batches on worker threads (Arrow and numpy release the GIL) while this
        thread checks keys and writes results in file order."""
        workers = max(2, os.cpu_count() or 2)
        pending: deque[Future[_Cleaned]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clean") as pool:
            for raw in reader.batches(self.malformed.append):
                self._flush_malformed()
                pending.append(pool.submit(_clean, raw, self.schema))
                if len(pending) > workers:
                    self._take(pending.popleft().result())
                if progress:
                    progress(reader.bytes_read, reader.size)
            while pending:
                self._take(pending.popleft().result())
        self._flush_malformed()

    def _take(self, batch: _Cleaned) -> None:
        typed, problems = batch.typed, batch.problems
        if self.keys is not None and batch.keyed is not None and batch.key_hashes is not None:
            self._mark_duplicates(batch, batch.keyed[self.keys.add_hashes(batch.key_hashes)])
        invalid = problems.invalid_mask()
        first = self.records + 1
        self.records += batch.raw.num_rows
        if pc.any(invalid).as_py():
            self._reject(batch.raw, problems, invalid, first)
            typed = typed.filter(pc.invert(invalid))
        self.clean.write(typed)
        self._widen_time_range(typed)

    def _mark_duplicates(self, batch: _Cleaned, rows: np.ndarray) -> None:
        """Rows whose key was seen before (in this file or in the lake) are problems."""
        if not len(rows):
            return
        mask = np.zeros(batch.typed.num_rows, dtype=bool)
        mask[rows] = True
        key = ", ".join(self.schema.primary_key)
        batch.problems.add(
            pa.array(mask), self.schema.primary_key[0], f"duplicate primary key ({key})"
        )

    def _reject(
        self, raw: pa.RecordBatch, problems: Problems, invalid: pa.Array, first: int
    ) -> None:
        rows = pc.indices_nonzero(invalid)
        columns, reasons = problems.describe(rows)
        for column, reason in zip(columns, reasons, strict=True):
            self.reasons[(column, reason)] += 1
        taken = raw.take(rows)
        meta = [
            pc.add(rows, first).cast(pa.int64()),
            pa.array(columns, pa.string()),
            pa.array(reasons, pa.string()),
            pa.nulls(len(rows), pa.string()),
        ]
        raw_text = [_lossless_text(taken.column(c.header)) for c in self.schema.columns]
        self.rejects.write(pa.RecordBatch.from_arrays(meta + raw_text, schema=self.rejects.schema))

    def _flush_malformed(self) -> None:
        if not self.malformed:
            return
        rows, self.malformed = self.malformed, []
        for row in rows:
            self.reasons[(None, row.reason)] += 1
        n = len(rows)
        arrays = [
            pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.string()),
            pa.array([r.reason for r in rows], pa.string()),
            pa.array([r.text for r in rows], pa.string()),
        ] + [pa.nulls(n, pa.string()) for _ in self.schema.columns]
        self.rejects.write(pa.RecordBatch.from_arrays(arrays, schema=self.rejects.schema))

    def _widen_time_range(self, typed: pa.RecordBatch) -> None:
        column = self.schema.time_column
        if column is None or typed.num_rows == 0:
            return
        low, high = pc.min_max(typed.column(column)).values()
        low, high = low.as_py(), high.as_py()
        if low is not None:
            self.time_range[0] = low if self.time_range[0] is None else min(self.time_range[0], low)
            self.time_range[1] = (
                high if self.time_range[1] is None else max(self.time_range[1], high)
            )

    def abandon(self) -> None:
        self.clean.discard()
        self.rejects.discard()

    def commit(self, actor: str) -> IngestResult:
        published = self.clean.publish()
        rejected = self.rejects.publish(f"run-{self.run_id}.parquet")
        quarantine_path = str(rejected[0].relative_to(self.home.root)) if rejected else None
        version = self._version(published)
        counts = (self.clean.rows + self.rejects.rows, self.clean.rows, self.rejects.rows)
        summary = [QuarantineCount(col, why, n) for (col, why), n in self.reasons.most_common()]
        with self.db.atomic():
            records.finish_run(self.db, self.run_id, counts, version, summary, quarantine_path)
            audit.record(
                self.db, actor, "ingest.ok", self.schema.name,
                {"run": self.run_id, "rows_in": counts[0], "rows_ok": counts[1],
                 "rows_quarantined": counts[2], "version": version.version if version else None},
            )  # fmt: skip
        return IngestResult(records.get_run(self.db, self.run_id), False, summary)

    def _version(self, published: tuple[Path, str] | None) -> NewVersion | None:
        if published is None:
            return None
        path, digest = published
        low, high = (None if v is None else str(v) for v in self.time_range)
        fields = [(f.name, str(f.type)) for f in self.clean.schema]
        return NewVersion(
            version=digest,
            path=str(path.relative_to(self.home.root)),
            rows=self.clean.rows,
            schema_json=records.schema_as_json(fields),
            time_column=self.schema.time_column,
            time_min=low,
            time_max=high,
        )


def _lossless_text(column: pa.Array) -> pa.Array:
    """Raw bytes as text for people to read; bytes that are not UTF-8 are escaped (\\xff)."""
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowInvalid:
        values = column.to_pylist()
        return pa.array(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in values],
            pa.string(),
        )
