"""The lake: immutable, content-hashed Parquet parts, one per ingested file.

A dataset is the union of its registered versions. Files are written to a temporary
name and renamed into place; only versions recorded in the store are ever read, so
a crash mid-write leaves nothing a reader can see.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlite_utils import Database

from appliance.errors import NotFound
from appliance.home import DataHome

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DatasetVersion",
    "dataset_versions",
    "file_sha256",
    "iter_batches",
    "read_dataset",
    "replace_atomically",
]


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: str
    path: str
    rows: int
    time_min: str | None
    time_max: str | None
    source_file: str
    source_sha256: str
    created_at: str


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dataset_versions(db: Database, dataset: str) -> list[DatasetVersion]:
    """Every version of ``dataset``, oldest first; NotFound if the dataset is unknown."""
    if not db.execute("SELECT 1 FROM datasets WHERE name = ?", [dataset]).fetchone():
        known = [r[0] for r in db.execute("SELECT name FROM datasets ORDER BY name")]
        raise NotFound(
            f"no dataset named {dataset!r}; known datasets: {', '.join(known) or 'none yet'}"
        )
    rows = db.execute(
        "SELECT dataset, version, path, rows, time_min, time_max, source_file, source_sha256,"
        " created_at FROM dataset_versions WHERE dataset = ? ORDER BY id",
        [dataset],
    ).fetchall()
    return [DatasetVersion(*row) for row in rows]


def read_dataset(
    home: DataHome, db: Database, dataset: str, columns: list[str] | None = None
) -> pa.Table:
    """All rows of ``dataset`` as one Arrow table (the union of its versions)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    versions = dataset_versions(db, dataset)
    tables = [pq.read_table(home.inside(v.path), columns=columns) for v in versions]
    if not tables:
        raise NotFound(f"dataset {dataset!r} has no rows yet")
    return pa.concat_tables(tables, promote_options="default")


def iter_batches(
    home: DataHome,
    db: Database,
    dataset: str,
    batch_size: int = 65_536,
    columns: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream a dataset's rows in batches without loading it whole."""
    import pyarrow.parquet as pq

    for version in dataset_versions(db, dataset):
        parquet = pq.ParquetFile(home.inside(version.path))
        yield from parquet.iter_batches(batch_size=batch_size, columns=columns)


def replace_atomically(tmp: Path, final: Path) -> None:
    """Make ``tmp`` visible as ``final`` in one step, durable across a power cut."""
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
