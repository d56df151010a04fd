"""The Arrow copy of the published tables, which Hyper bulk-loads, the Flight SQL
endpoint serves and the PostgreSQL copy reads: ``publish/data/<table>/v<version>-<part>.arrow``
(Arrow IPC files, uncompressed: Hyper's ``COPY`` reads them and the endpoint memory-maps
them, so nothing is decoded twice) and a manifest.

``manifest.json`` names, per table, its schema fingerprint, extract version, high-water
mark, row count and part files. It is the only thing readers follow, and it is swapped
atomically (temporary file, fsync, rename), so a reader sees the previous publish or the
next one, never a part of one. New parts are written before the manifest names them;
parts no manifest names any more are deleted a while later, never while a query that
began before the swap may still open them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.errors import PublishError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MANIFEST",
    "PART_ROWS",
    "DataSet",
    "TableFiles",
    "atomic_write",
    "fsync_dir",
    "read_parts",
]

MANIFEST = "manifest.json"
_FORMAT = 1
_KEEP_UNREFERENCED_S = 600.0  # a query bound to the previous manifest has this long
_COMPACT_AT = 32  # parts of one table; beyond this they are rewritten as one
PART_ROWS = 1 << 20
"""Rows per part file of a large write: Hyper loads one part while the next is written."""
_ONE_PART = 1 << 62


@dataclass(frozen=True)
class TableFiles:
    """One table of the manifest."""

    schema_sha256: str
    version: int
    rows: int
    files: tuple[str, ...]
    """Paths relative to the data folder."""
    mark: int | None = None

    def paths(self, root: Path) -> list[Path]:
        return [root / f for f in self.files]


@dataclass
class DataSet:
    """The data folder; ``tables`` is the manifest as last read or written."""

    root: Path
    tables: dict[str, TableFiles] = field(default_factory=dict)
    published_at: str | None = None

    @classmethod
    def open(cls, root: Path) -> DataSet:
        path = root / MANIFEST
        if not path.is_file():
            return cls(root)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tables = {name: TableFiles(t["schema_sha256"], int(t["version"]), int(t["rows"]),
                                       tuple(t["files"]), t.get("mark"))
                      for name, t in data["tables"].items()}  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"the published data manifest {path} is unreadable ({exc});"
                               " `appliance publish --full` rewrites it") from exc  # fmt: skip
        return cls(root, tables, data.get("published_at"))

    def write_part(self, table: str, version: int, batches: Iterable[pa.RecordBatch],
                   schema: pa.Schema) -> tuple[str, int]:  # fmt: skip
        """Write batches to a new part of ``table``; returns (relative path, rows). Nothing
        reads it until ``commit`` names it."""
        ((name, rows),) = self.write_parts(table, version, batches, schema, part_rows=_ONE_PART)
        return name, rows

    def write_parts(self, table: str, version: int, batches: Iterable[pa.RecordBatch],
                    schema: pa.Schema, *, part_rows: int | None = None,
                    ) -> Iterator[tuple[str, int]]:  # fmt: skip
        """Write batches to new parts of ``table``, a part closed once it holds
        ``part_rows`` rows (default ``PART_ROWS``), yielding ``(relative path, rows)`` as
        each is complete, so a consumer (Hyper's COPY) can load one part while the next
        is written. At least one part, empty if there are no rows (it has the schema)."""
        import pyarrow as pa

        limit = PART_ROWS if part_rows is None else part_rows
        if limit < 1:
            raise ValueError(f"part_rows must be at least 1, not {limit}")
        folder = self.root / table
        folder.mkdir(parents=True, exist_ok=True)
        number = _next_part(folder)
        pending = iter(batches)
        ahead: pa.RecordBatch | None = None
        while True:
            name = f"{table}/v{version}-{number:06d}.arrow"
            tmp = self.root / f"{name}.tmp"
            rows, done = 0, False
            try:
                with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                    while rows < limit:
                        batch, ahead = (ahead if ahead is not None else next(pending, None)), None
                        if batch is None:
                            done = True
                            break
                        writer.write_batch(batch)
                        rows += batch.num_rows
            except BaseException:  # a full disk: leave no half part behind to keep it full
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, self.root / name)
            yield name, rows
            if done or (ahead := next(pending, None)) is None:
                return
            number += 1

    def batches(self, table: str) -> Iterator[pa.RecordBatch]:
        """Every batch of a table's parts, memory-mapped (no copy), in part order."""
        yield from read_parts(self.tables[table].paths(self.root))

    def compacted(self, table: str, entry: TableFiles, schema: pa.Schema) -> TableFiles:
        """``entry`` rewritten as one part when it has too many small ones."""
        if len(entry.files) <= _COMPACT_AT:
            return entry
        name, rows = self.write_part(table, entry.version, read_parts(entry.paths(self.root)),
                                     schema)  # fmt: skip
        return TableFiles(entry.schema_sha256, entry.version, rows, (name,), entry.mark)

    def commit(self, changes: Mapping[str, TableFiles], at: str) -> None:
        """Swap in a manifest with ``changes`` applied (other tables stay as they were)."""
        tables = {**self.tables, **changes}
        body = {
            "format": _FORMAT,
            "published_at": at,
            "tables": {name: {**asdict(t), "files": list(t.files)}
                       for name, t in sorted(tables.items())},
        }
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / MANIFEST, json.dumps(body, indent=1).encode())
        self.tables, self.published_at = tables, at

    def sweep(self, *, older_than_s: float = _KEEP_UNREFERENCED_S) -> int:
        """Delete part files (and leftover temporaries) no manifest names, once old enough."""
        keep = {f for t in self.tables.values() for f in t.files}
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.root.glob("*/*.arrow*"):
            relative = path.relative_to(self.root).as_posix()
            if relative not in keep and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def read_parts(paths: Iterable[Path]) -> Iterator[pa.RecordBatch]:
    """The batches of Arrow IPC files, memory-mapped."""
    import pyarrow as pa

    for path in paths:
        source = pa.ipc.open_file(pa.memory_map(str(path)))
        for i in range(source.num_record_batches):
            yield source.get_batch(i)


def _next_part(folder: Path) -> int:
    numbers = [int(p.name.split("-")[-1].split(".")[0]) for p in folder.glob("v*-*.arrow*")
               if p.name.split("-")[-1].split(".")[0].isdigit()]  # fmt: skip
    return max(numbers, default=0) + 1


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old bytes or the new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

