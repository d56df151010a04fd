"""A Parquet file written batch by batch under a temporary name, then published by
rename, so readers only ever see whole files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from appliance.lake import file_sha256, replace_atomically

__all__ = ["ParquetPart"]


class ParquetPart:
    def __init__(self, directory: Path, tmp_name: str, schema: pa.Schema) -> None:
        self.directory = directory
        self.schema = schema
        self.tmp_path = directory / f".tmp-{tmp_name}.parquet"
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp_path, self.schema, compression="zstd")
        self._writer.write(batch)
        self.rows += batch.num_rows

    def publish(self, name: str | None = None) -> tuple[Path, str] | None:
        """Close and rename into place; the name defaults to the content hash.
        Returns (path, sha256), or None when nothing was written."""
        if self._writer is None:
            return None
        self._writer.close()
        digest = file_sha256(self.tmp_path)
        final = self.directory / (name or f"{digest[:24]}.parquet")
        if final.exists() and file_sha256(final) == digest:
            self.tmp_path.unlink()
        else:
            replace_atomically(self.tmp_path, final)
        return final, digest

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp_path.unlink(missing_ok=True)
