"""A whole draft schema: header or not, named and typed columns, keys, notes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from appliance.ingest.infer.columns import ColumnGuess, guess_column
from appliance.ingest.infer.sample import (
    VALID_NAME,
    Decoded,
    Dialect,
    InferError,
    inbox_pattern,
    snake_names,
)
from appliance.ingest.schema import DEFAULT_NULLS


@dataclass(frozen=True)
class SchemaDraft:
    """Everything a draft schema says, and what the sample showed, ready to render."""

    name: str
    source_file: str
    encoding: str
    dialect: Dialect
    header: bool
    columns: tuple[ColumnGuess, ...]
    sample_rows: int
    primary_key: str | None = None
    time_column: str | None = None
    inbox_pattern: str = "*.csv"
    notes: tuple[str, ...] = field(default=())


def infer_schema(
    name: str,
    source_file: str,
    decoded: Decoded,
    dialect: Dialect,
    records: Sequence[Sequence[str]],
) -> SchemaDraft:
    """Draft a schema from sampled records (the first may be the header line)."""
    if not VALID_NAME.fullmatch(name):
        raise InferError(
            f"{name!r} cannot name a dataset: use letters, digits and '_', "
            "starting with a letter or '_'"
        )
    if not records:
        raise InferError(f"{source_file} has no complete line to infer a schema from")
    width = Counter(len(r) for r in (records[1:] or records)).most_common(1)[0][0]
    first, rows = list(records[0]), [r for r in records[1:] if len(r) == width]
    header, guesses = _header_and_types(first, rows, width)
    if header and len(first) != width:
        raise InferError(
            f"the header of {source_file} has {len(first)} fields but most lines have {width}: "
            f"is the delimiter {dialect.delimiter!r} right?"
        )
    columns = _named(guesses, [h.strip() for h in first] if header else None)
    return SchemaDraft(
        name=name,
        source_file=source_file,
        encoding=decoded.encoding,
        dialect=dialect,
        header=header,
        columns=columns,
        sample_rows=len(rows) + (0 if header else 1),
        primary_key=_primary_key(columns, len(rows) + (0 if header else 1)),
        time_column=next((c.name for c in columns if c.type in ("date", "timestamp")), None),
        inbox_pattern=inbox_pattern(source_file),
        notes=decoded.notes + _sample_notes(first if header else None, records, rows, width),
    )


def _sample_notes(
    header: Sequence[str] | None,
    records: Sequence[Sequence[str]],
    rows: Sequence[Sequence[str]],
    width: int,
) -> tuple[str, ...]:
    """What the reviewer should know about the sample as a whole."""
    notes = []
    if header is None:
        notes.append("the first line looks like data, not a header: columns are read in order")
    if skipped := len(records) - 1 - len(rows):
        notes.append(f"{skipped} sampled line(s) have a field count other than {width}")
    if not rows and header is not None:
        notes.append("the sample has no data rows: every column is a string")
    if empty := [str(i) for i, h in enumerate(header or (), start=1) if not h.strip()]:
        notes.append(
            f"column(s) {', '.join(empty)} have no header name: they are read as "
            '`source = ""` and named column_N; rename them here'
        )
    return tuple(notes)


def _guess_all(rows: Sequence[Sequence[str]], width: int) -> list[ColumnGuess]:
    """One guess per column of ``rows``."""
    return [guess_column([row[i] for row in rows]) for i in range(width)]


def _header_and_types(
    first: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> tuple[bool, list[ColumnGuess]]:
    """Whether the first line is a header, and the column types of the data.

    It is data when every column typed by the other rows keeps its type with the first
    line included, and the first line's value fits it (a header would not)."""
    rest = _guess_all(rows, width)
    if not rows or len(first) != width:
        return True, rest
    every = _guess_all([first, *rows], width)
    typed = [
        (value.strip(), r, e)
        for value, r, e in zip(first, rest, every, strict=True)
        if r.type != "string" and r.count and value.strip() not in DEFAULT_NULLS
    ]
    data = bool(typed) and all(
        _family(e.type) == _family(r.type) and e.fits(value) for value, r, e in typed
    )
    return (False, every) if data else (True, rest)


def _family(kind: str) -> str:
    return "number" if kind in ("int", "float") else kind


def _named(guesses: Sequence[ColumnGuess], headers: list[str] | None) -> tuple[ColumnGuess, ...]:
    """Give each guess its name (and source header); keep dict fields' names distinct."""
    if headers is None:
        names = [f"column_{i}" for i in range(1, len(guesses) + 1)]
        named = [replace(g, name=n) for g, n in zip(guesses, names, strict=True)]
    else:
        repeated = sorted({h for h in headers if headers.count(h) > 1})
        if repeated:
            raise InferError(
                f"the header repeats {', '.join(map(repr, repeated))}: give every column "
                "its own name in the file"
            )
        names = snake_names(headers)
        named = [
            replace(g, name=n, source=h if h != n else None)
            for g, n, h in zip(guesses, names, headers, strict=True)
        ]
    taken = {c.name for c in named}
    return tuple(_distinct_fields(c, taken) if c.type == "dict" else c for c in named)


def _distinct_fields(column: ColumnGuess, taken: set[str]) -> ColumnGuess:
    """Rename dict fields whose lake column (``<column>_<field>``) is already taken."""
    fields = []
    for item in column.fields:
        name, k = item.name, 2
        while f"{column.name}_{name}" in taken:
            name, k = f"{item.name[:56]}_{k}", k + 1
        taken.add(f"{column.name}_{name}")
        fields.append(replace(item, name=name))
    return replace(column, fields=tuple(fields))


def _primary_key(columns: Sequence[ColumnGuess], rows: int) -> str | None:
    """The first *id column whose sampled values are all present and distinct."""
    for col in columns:
        looks_like_id = col.name.endswith("id") or col.name.startswith("id_")
        if (
            looks_like_id
            and col.type in ("string", "int", "date", "timestamp")
            and rows
            and col.count == col.distinct == rows
            and not col.misfit_rows
        ):
            return col.name
    return None
