"""Rendering a drafted source schema as commented TOML a bank analyst can review.

A pure renderer for the few TOML shapes a schema needs (strings, booleans, numbers,
string lists, inline tables, comments); the output always parses with ``tomllib``.
What the sample showed (counts, ranges, values seen, ambiguities) goes in comments.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from appliance.ingest.infer.columns import ColumnGuess
from appliance.ingest.infer.draft import SchemaDraft

__all__ = ["render_draft", "toml_comment", "toml_value"]

WIDTH = 96
TomlValue = str | bool | int | float | list[str] | tuple[str, ...] | dict[str, object]
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_ESCAPES["\r"] = "\\r"


def toml_value(value: object) -> str:
    """One TOML value: a basic string, boolean, number, array or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escape(ch) for ch in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    return f"\\u{code:04X}" if code < 0x20 or 0x7F <= code <= 0x9F else ch


def toml_comment(text: str, indent: str = "") -> list[str]:
    """``text`` as wrapped ``#`` comment lines (control characters become spaces)."""
    clean = "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)
    lines = textwrap.wrap(clean, WIDTH - len(indent) - 2, break_on_hyphens=False) or [""]
    return [f"{indent}# {line}".rstrip() for line in lines]


def render_draft(draft: SchemaDraft) -> str:
    """The draft as a TOML document: header comments, top-level keys, one table per column."""
    lines = [*_preamble(draft), "", *_top_level(draft)]
    for column in draft.columns:
        lines += ["", "[[columns]]", *_column(column)]
    return "\n".join(lines) + "\n"


def _preamble(draft: SchemaDraft) -> list[str]:
    lines = toml_comment(
        f"DRAFT source schema inferred by `appliance sources infer` from {draft.source_file} "
        f"({draft.sample_rows} sample rows). Review every column before use: the types, keys "
        "and commented hints were guessed from the sample only. A type was chosen even when "
        "fewer than 1% of the sampled values did not fit it: such rows go to quarantine. "
        "No min/max, allowed list or required flag is declared; add the ones you are sure of."
    )
    for note in draft.notes:
        lines += toml_comment(f"Note: {note}")
    return lines


def _top_level(draft: SchemaDraft) -> list[str]:
    items: list[tuple[str, TomlValue]] = [
        ("name", draft.name),
        ("description", f"DRAFT inferred from {draft.source_file}; review before use"),
        ("format", "csv"),
        ("delimiter", draft.dialect.delimiter),
        ("quote", draft.dialect.quote),
        ("encoding", draft.encoding),
        ("header", draft.header),
        ("extra_columns", "error"),
        ("inbox_pattern", draft.inbox_pattern),
    ]
    lines = [f"{key} = {toml_value(value)}" for key, value in items]
    if draft.primary_key:
        lines += toml_comment("unique and never empty in the sample; duplicates are quarantined")
        lines.append(f"primary_key = {toml_value([draft.primary_key])}")
    else:
        lines += toml_comment('primary_key = ["..."]  (no *id column was unique in the sample)')
    if draft.time_column:
        lines.append(f"time_column = {toml_value(draft.time_column)}")
    return lines


def _spec(column: ColumnGuess) -> dict[str, TomlValue]:
    """The column's schema keys, leaving out every default."""
    spec: dict[str, TomlValue] = {"name": column.name}
    if column.source is not None:
        spec["source"] = column.source
    spec["type"] = column.type
    optional: dict[str, TomlValue | None] = {
        "format": column.format,
        "decimal": column.decimal if column.decimal != "." else None,
        "thousands": column.thousands,
        "strip": column.strip or None,
        "true_values": column.true_values or None,
        "false_values": column.false_values or None,
    }
    if column.type == "dict":
        optional["item_separator"] = column.item_separator
        optional["key_separator"] = column.key_separator
    spec.update({k: v for k, v in optional.items() if v is not None})
    return spec


def _column(column: ColumnGuess) -> list[str]:
    lines = _facts(column)
    lines += [f"{key} = {toml_value(value)}" for key, value in _spec(column).items()]
    if column.fields:
        lines.append("fields = [")
        for item in column.fields:
            lines += _facts(item, indent="  ", label=f"{item.name} (sample): ")
            lines.append(f"  {toml_value(_spec(item))},")
        lines.append("]")
    return lines


def _facts(column: ColumnGuess, indent: str = "", label: str = "") -> list[str]:
    """Comments: what the sample showed, the allowed-values hint, misfits and notes."""
    facts = f"{label or 'sample: '}{column.count} values, {column.missing} missing"
    if column.type != "dict":
        facts += f", {column.distinct} distinct"
    if column.low is not None:
        facts += f"; from {column.low} to {column.high}"
        if column.type in ("int", "float"):
            facts += " (no min/max declared)"
    lines = toml_comment(facts, indent)
    if column.misfit_rows:
        examples = ", ".join(toml_value(v) for v in column.misfits)
        verb = "does" if column.misfit_rows == 1 else "do"
        lines += toml_comment(
            f"{column.misfit_rows} of {column.count} sampled values {verb} not fit "
            f"{column.type} (e.g. {examples}): such rows go to quarantine",
            indent,
        )
    for note in column.notes:
        lines += toml_comment(note, indent)
    if column.allowed:
        lines += _allowed_hint(column.allowed, indent)
    return lines


def _allowed_hint(values: Iterable[str], indent: str) -> list[str]:
    """A commented-out ``allowed = [...]``: uncomment it to make the list a rule."""
    items = [toml_value(v) for v in values]
    one_line = f"{indent}# allowed = [{', '.join(items)}]  # seen in the sample"
    if len(one_line) <= WIDTH:
        return [one_line]
    lines, current = [f"{indent}# allowed = [  # seen in the sample"], ""
    for item in items:
        if current and len(indent) + 4 + len(current) + len(item) + 2 > WIDTH:
            lines.append(f"{indent}#   {current.rstrip()}")
            current = ""
        current += f"{item}, "
    return [*lines, f"{indent}#   {current.rstrip()}", f"{indent}# ]"]
