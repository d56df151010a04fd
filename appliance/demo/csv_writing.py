"""Streaming CSV writing for the demo generators: vectorised formatting, atomic files.

Every column is turned into a null-free Arrow string array by one of the formatters
below (numbers, money, dates, lookups), the columns of a chunk are joined into lines
by Arrow compute kernels, and the line bytes go straight to disk. No per-row Python.
A file appears under its final name only once it is complete (temp file + rename).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CsvFile", "iso_dates", "lookup", "money", "numbers", "where_empty"]


def numbers(values: np.ndarray, width: int = 0, prefix: str = "") -> pa.Array:
    """Integers as text, zero-padded to ``width`` and prefixed (``C0000042``)."""
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    if prefix:
        text = pc.binary_join_element_wise(prefix, text, "")
    return text


def money(cents: np.ndarray, decimal: str = ".", thousands: str | None = None) -> pa.Array:
    """Non-negative amounts in cents as ``1234.56``, or ``1.234,56`` with separators."""
    cents = np.asarray(cents, dtype=np.int64)
    whole, frac = np.divmod(cents, 100)
    frac_text = pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), width=2, padding="0")
    whole_text = numbers(whole)
    if thousands:
        high, low = np.divmod(whole, 1000)
        grouped = pc.binary_join_element_wise(numbers(high), numbers(low, width=3), thousands)
        whole_text = pc.if_else(pa.array(whole >= 1000), grouped, whole_text)
        if int(whole.max(initial=0)) >= 1_000_000:
            raise ValueError("money() groups at most one thousands separator (< 1,000,000)")
    return pc.binary_join_element_wise(whole_text, frac_text, decimal)


def iso_dates(days: np.ndarray) -> pa.Array:
    """``datetime64[D]`` values as ISO ``YYYY-MM-DD`` text."""
    as_int = np.asarray(days, dtype="datetime64[D]").astype(np.int32)
    return pc.cast(pa.array(as_int, pa.date32()), pa.string())


def lookup(table: Sequence[str], index: np.ndarray) -> pa.Array:
    """``table[index]`` for every index: the fast way to write labels and fixed formats."""
    return pc.take(pa.array(list(table), pa.string()), pa.array(np.asarray(index, np.int64)))


def where_empty(mask: np.ndarray, text: pa.Array) -> pa.Array:
    """``text`` with the masked positions replaced by the empty string (a missing value)."""
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), "", text)


class CsvFile:
    """A CSV file written chunk by chunk, renamed into place when the block exits cleanly.

    ``with CsvFile(path, header) as out: out.write([col, col, ...])``; a failure
    inside the block removes the partial file and leaves any previous file intact.
    """

    def __init__(self, path: Path, header: Sequence[str], delimiter: str = ",") -> None:
        self.path = path
        self.header = list(header)
        self.delimiter = delimiter
        self.rows = 0
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._handle: BinaryIO | None = None

    def __enter__(self) -> CsvFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self._tmp.open("wb")
        self._file.write((self.delimiter.join(self.header) + "\n").encode("utf-8"))
        return self

    @property
    def _file(self) -> BinaryIO:
        if self._handle is None:
            raise RuntimeError("CsvFile.write() is only valid inside its `with` block")
        return self._handle

    def write(self, columns: Sequence[pa.Array]) -> None:
        """Append one chunk; every column a null-free string array of the same length."""
        if len(columns) != len(self.header):
            raise ValueError(f"{self.path.name}: {len(columns)} columns for {len(self.header)}")
        lines = pc.binary_join_element_wise(*columns, self.delimiter)
        lines = pc.binary_join_element_wise(lines, "", "\n")
        if lines.null_count:
            raise ValueError(f"{self.path.name}: a column holds nulls; use where_empty()")
        self._file.write(_string_bytes(lines))
        self.rows += len(lines)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        handle, self._handle = self._file, None
        handle.close()
        if kind is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def _string_bytes(text: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array, without copying per value."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    start, end = offsets[text.offset], offsets[text.offset + len(text)]
    return memoryview(text.buffers()[2])[start:end]
