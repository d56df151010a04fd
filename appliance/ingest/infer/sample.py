"""Reading a sample: encoding, delimiter, quote, records, column names, inbox pattern."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import PurePath

from appliance.errors import SchemaError

DELIMITERS = (",", ";", "\t", "|", " ")
VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SNIFF_LINES = 200


class InferError(SchemaError):
    """No draft schema can be made from the file; the message says why and what to do."""


@dataclass(frozen=True)
class Decoded:
    """A sample's text and the encoding it was read with."""

    text: str
    encoding: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dialect:
    """How the file's fields are delimited and quoted."""

    delimiter: str = ","
    quote: str = '"'


def decode_sample(data: bytes, what: str = "the file") -> Decoded:
    """Decode the first bytes of a file: UTF-8 when valid, else latin-1 (with a note)."""
    if not data.strip():
        raise InferError(f"{what} is empty: there is no header or data to infer from")
    if data.startswith(b"PAR1"):
        raise InferError(f"{what} is a Parquet file; `sources infer` reads delimited text")
    head = data[:8192]
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or control > len(head) // 100:
        raise InferError(
            f"{what} looks like a binary file, not delimited text (export it as CSV, UTF-8)"
        )
    try:
        return Decoded(data.decode("utf-8").removeprefix("\ufeff"), "utf-8")
    except UnicodeDecodeError:
        note = "the file is not valid UTF-8; it was read as latin-1 (use cp1252 if € or curly "
        note += "quotes look wrong)"
        return Decoded(data.decode("latin-1"), "latin-1", (note,))


def sniff_dialect(text: str) -> Dialect:
    """The delimiter giving the most consistent field count (then the most fields)."""
    head = "\n".join(text.splitlines()[:_SNIFF_LINES])
    quote = _sniff_quote(head)

    def score(delimiter: str) -> tuple[float, int, int]:
        records = [r for r in csv.reader(io.StringIO(head), delimiter=delimiter, quotechar=quote)]
        counts = Counter(len(r) for r in records if r)
        if not counts:
            return (0.0, 0, 0)
        width, seen = counts.most_common(1)[0]
        penalty = 1 if delimiter == " " else 0  # spaces also occur inside text
        return (seen / sum(counts.values()) if width > 1 else 0.0, -penalty, width)

    try:
        best = max(DELIMITERS, key=score)
    except csv.Error as exc:
        raise InferError(f"the sample could not be split into fields: {exc}") from exc
    return Dialect(best if score(best)[0] > 0 else ",", quote)


def _sniff_quote(text: str) -> str:
    opens = {q: len(re.findall(rf"(?:^|[,;\t| ]){q}", text, re.MULTILINE)) for q in "\"'"}
    return "'" if opens["'"] and not opens['"'] else '"'


def parse_records(text: str, dialect: Dialect, limit: int, complete: bool) -> list[list[str]]:
    """Up to ``limit`` records; the last one is dropped if the text was cut off mid-file."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=dialect.delimiter, quotechar=dialect.quote
    )
    records: list[list[str]] = []
    try:
        for record in reader:
            if len(records) >= limit:
                return records
            if record:
                records.append(record)
    except csv.Error as exc:
        raise InferError(f"line {reader.line_num} cannot be read as CSV: {exc}") from exc
    return records if complete else records[:-1]


def snake_names(headers: Sequence[str]) -> list[str]:
    """Unique snake_case ASCII column names for ``headers`` (``column_N`` when empty)."""
    names: list[str] = []
    for position, header in enumerate(headers, start=1):
        ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
        name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_") or f"column_{position}"
        name = f"c_{name}" if name[0].isdigit() else name
        names.append(name[:63])
    return _dedupe(names)


def _dedupe(names: Sequence[str], taken: set[str] | None = None) -> list[str]:
    seen = set(taken or ())
    out = []
    for name in names:
        unique, k = name, 2
        while unique in seen:
            unique, k = f"{name[: 62 - len(str(k))]}_{k}", k + 1
        seen.add(unique)
        out.append(unique)
    return out


def inbox_pattern(file_name: str) -> str:
    """A glob for files like ``file_name``: a trailing date or batch number becomes ``*``."""
    path = PurePath(file_name)
    stem, suffix = path.stem, path.suffix
    dated = re.search(r"\d{4}[\d_.-]*$", stem)
    if dated and re.search(r"[A-Za-z]", stem[: dated.start()]):
        stem = stem[: dated.start()]
    return f"{glob_escape(stem)}*{glob_escape(suffix)}"


# -- column types ------------------------------------------------------------------------
