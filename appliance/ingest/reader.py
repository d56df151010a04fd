"""Reading a source file as a stream of raw Arrow batches, whatever its format.

CSV columns arrive as raw bytes (cleaning decodes and checks them); rows whose field
count is wrong are handed to ``on_malformed`` with their text. A file that cannot be
read at all raises UnreadableFile naming the file and the problem.

A UTF-8 file holding bytes that are not UTF-8 is read as Latin-1 (one character per
byte) and its columns turned back into the file's own bytes: pyarrow decodes a row with
the wrong field count as UTF-8 before handing it over, and would otherwise refuse the
whole file for one damaged row. Checking the file first costs about 1 % of an ingest.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from appliance.errors import UnreadableFile
from appliance.ingest.schema import SourceSchema

__all__ = ["MalformedRow", "SourceReader", "detect_format"]

BLOCK_SIZE = 2 << 20  # bytes of CSV per batch: Arrow reads ahead a few dozen blocks
PARQUET_BATCH = 65_536  # rows per batch
_SNIFF_BYTES = 64 << 10
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class MalformedRow:
    text: str
    expected_columns: int
    actual_columns: int

    @property
    def reason(self) -> str:
        return f"expected {self.expected_columns} fields, found {self.actual_columns}"


def detect_format(path: Path, schema: SourceSchema) -> str:
    if schema.format:
        return schema.format
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


class SourceReader:
    """Opens one file for one schema; ``batches()`` yields raw batches keyed by header."""

    def __init__(self, path: Path, schema: SourceSchema) -> None:
        self.path = path
        self.schema = schema
        self.format = detect_format(path, schema)
        self.bytes_read = 0
        self.size = path.stat().st_size

    def batches(self, on_malformed: Callable[[MalformedRow], None]) -> Iterator[pa.RecordBatch]:
        if self.size == 0:
            raise self._unreadable("the file is empty (not even a header line)")
        if self.format == "parquet":
            yield from self._parquet_batches()
        else:
            yield from self._csv_batches(on_malformed)

    def _unreadable(self, problem: str) -> UnreadableFile:
        return UnreadableFile(f"cannot ingest {self.path.name}: {problem}")

    def _check_header(self, found: list[str]) -> None:
        expected = [c.header for c in self.schema.columns]
        missing = [h for h in expected if h not in found]
        repeated = sorted({h for h in found if found.count(h) > 1})
        if repeated:
            raise self._unreadable(f"the header repeats column(s) {', '.join(repeated)}")
        if missing:
            raise self._unreadable(
                f"missing column(s) {', '.join(missing)} required by source "
                f"{self.schema.name!r}; the file has: {', '.join(found) or 'no columns'}"
            )
        extra = [h for h in found if h not in expected]
        if extra and self.schema.extra_columns == "error":
            raise self._unreadable(
                f"unexpected column(s) {', '.join(extra)} not declared by source "
                f'{self.schema.name!r} (declare them, or set extra_columns = "ignore")'
            )

    # -- CSV ---------------------------------------------------------------------------
    def _sniff_csv_header(self) -> tuple[list[str], bool]:
        """The header line's fields, and whether the file has a line end at all."""
        with self.path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
        one_line = len(head) == self.size and b"\n" not in head and b"\r" not in head
        if b"\x00" in head[:8192] and "16" not in self.schema.encoding:
            raise self._unreadable("it looks like a binary file, not delimited text")
        encoding = (
            "utf-8-sig"
            if self.schema.encoding.lower() in ("utf-8", "utf8")
            else self.schema.encoding
        )
        first_line = head.split(b"\n", 1)[0]
        try:
            text = first_line.decode(encoding)
        except UnicodeDecodeError as exc:
            raise self._unreadable(
                f"the header line is not valid {self.schema.encoding} text "
                "(set `encoding` in the source schema)"
            ) from exc
        reader = csv.reader(
            io.StringIO(text), delimiter=self.schema.delimiter, quotechar=self.schema.quote
        )
        header = next(reader, [])
        return [h.strip() for h in header], not one_line

    def _csv_batches(
        self, on_malformed: Callable[[MalformedRow], None]
    ) -> Iterator[pa.RecordBatch]:
        header, has_line_end = self._sniff_csv_header()
        if self.schema.header:
            self._check_header(header)
            if not has_line_end:  # the header alone: no rows (pyarrow cannot skip the line)
                return
        else:  # no header line: the fields come in declared order, the first line is data
            header = [c.header for c in self.schema.columns]
        wanted = [c.header for c in self.schema.columns]
        utf8 = self.schema.encoding.lower() in ("utf-8", "utf8")
        as_latin1 = utf8 and not _is_utf8(self.path)

        def handler(row: pcsv.InvalidRow) -> str:
            text = _file_text(row.text) if as_latin1 else row.text
            on_malformed(MalformedRow(text, row.expected_columns, row.actual_columns))
            return "skip"

        read = pcsv.ReadOptions(
            block_size=BLOCK_SIZE,
            use_threads=True,
            encoding="latin-1" if as_latin1 else "utf8" if utf8 else self.schema.encoding,
            skip_rows=1 if self.schema.header else 0,
            column_names=header,
        )
        parse = pcsv.ParseOptions(
            delimiter=self.schema.delimiter,
            quote_char=self.schema.quote,
            newlines_in_values=self.schema.multiline,
            invalid_row_handler=handler,
        )
        convert = pcsv.ConvertOptions(
            column_types={h: pa.binary() for h in header},
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        with self.path.open("rb") as raw:
            if as_latin1 and raw.read(len(_UTF8_BOM)) != _UTF8_BOM:  # pyarrow skips it in UTF-8
                raw.seek(0)
            self.bytes_read = raw.tell()
            counted = _CountingReader(raw, self)
            try:
                stream = pcsv.open_csv(
                    counted, read_options=read, parse_options=parse, convert_options=convert
                )
                for batch in stream:
                    yield _file_bytes(batch) if as_latin1 else batch
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
                raise self._unreadable(f"the CSV could not be parsed: {_first_line(exc)}") from exc

    # -- Parquet -------------------------------------------------------------------------
    def _parquet_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            handle = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._unreadable(f"not a readable Parquet file ({_first_line(exc)})") from exc
        self._check_header(handle.schema_arrow.names)
        wanted = [c.header for c in self.schema.columns]
        try:
            for batch in handle.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
                self.bytes_read = min(self.size, self.bytes_read + batch.nbytes)
                yield batch
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._unreadable(f"the Parquet data is damaged ({_first_line(exc)})") from exc
        self.bytes_read = self.size


class _CountingReader(io.RawIOBase):
    """A pass-through file that tells its owner how far reading has got (for progress)."""

    def __init__(self, raw: BinaryIO, owner: SourceReader) -> None:
        self._raw = raw
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._owner.bytes_read += n or 0
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._owner.bytes_read += len(data)
        return data


def _is_utf8(path: Path, block_size: int = BLOCK_SIZE) -> bool:
    """Whether the whole file is UTF-8 (Arrow's validator, a block at a time)."""
    carry = b""
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            block = carry + block if carry else block
            if block.isascii():
                carry = b""
                continue
            cut = _complete_prefix(block)
            if not _valid_utf8(memoryview(block)[:cut]):
                return False
            carry = block[cut:]
    return _valid_utf8(carry)


def _complete_prefix(block: bytes) -> int:
    """Where ``block`` may be cut without splitting a UTF-8 sequence at its end."""
    end = cut = len(block)
    while cut > max(0, end - 3) and 0x80 <= block[cut - 1] < 0xC0:  # continuation bytes
        cut -= 1
    if cut > 0 and block[cut - 1] >= 0xC0:  # a lead byte: its sequence may go on
        return cut - 1
    return end


def _valid_utf8(data: bytes | memoryview) -> bool:
    buffer = pa.py_buffer(data)
    offsets = pa.array([0, buffer.size], pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, buffer])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _file_text(latin1: str) -> str:
    """A row read as Latin-1, as the UTF-8 it was meant to be (bad bytes as ``\\xff``)."""
    return latin1.encode("latin-1").decode("utf-8", "backslashreplace")


def _file_bytes(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch read as Latin-1 with every column turned back into the file's bytes."""
    columns = []
    for column in batch.columns:
        text = column.cast(pa.string())  # Latin-1 read into UTF-8: always valid
        if pc.all(pc.string_is_ascii(text)).as_py() is not False:
            columns.append(column)  # ASCII: the same bytes either way
            continue
        values = text.to_pylist()
        columns.append(pa.array([None if v is None else v.encode("latin-1") for v in values],
                                pa.binary()))  # fmt: skip
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
