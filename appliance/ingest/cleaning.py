"""Turning a batch of raw text into typed, validated columns, vectorised with Arrow.

Pure functions: an Arrow batch and a SourceSchema in, a typed batch and the rows'
problems out. No files, no store. Every value that cannot be read as declared is
reported in ``Problems`` (the row goes to quarantine), never silently coerced.
"""

from __future__ import annotations

import re
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from appliance.ingest.problems import Problems
from appliance.ingest.schema import ColumnSpec, SourceSchema

__all__ = ["clean_batch", "output_schema"]

_ARROW_TYPES = {
    "string": "string",
    "int": "int64",
    "float": "float64",
    "bool": "bool_",
    "date": "date32",
    "timestamp": "timestamp",
}


def _arrow_type(kind: str) -> pa.DataType:

    if kind == "timestamp":
        return pa.timestamp("us")
    factory = getattr(pa, _ARROW_TYPES[kind])
    return factory()


def output_schema(schema: SourceSchema) -> pa.Schema:
    """The Arrow schema of the rows this source puts in the lake."""
    fields: list[pa.Field] = []
    for col in schema.columns:
        parts = col.fields if col.type == "dict" else (col,)
        names = col.output_names()
        fields.extend(pa.field(n, _arrow_type(p.type)) for n, p in zip(names, parts, strict=True))
    return pa.schema(fields)


def clean_batch(batch: pa.RecordBatch, schema: SourceSchema) -> tuple[pa.RecordBatch, Problems]:
    """Clean every declared column of ``batch`` (columns named by their file headers)."""
    problems = Problems(batch.num_rows)
    arrays: list[pa.Array] = []
    for col in schema.columns:
        raw = batch.column(col.header)
        if _repeats_enough(raw):
            arrays.extend(_clean_distinct(raw, col, schema, problems))
        else:
            arrays.extend(_clean_column(raw, col, schema, problems))
    return pa.RecordBatch.from_arrays(arrays, schema=output_schema(schema)), problems


_SAMPLE = 2048


def _repeats_enough(raw: pa.Array) -> bool:
    """Whether a column repeats its values enough to clean each distinct value once
    (dates, categories, device strings) rather than every row (identifiers, amounts)."""
    if len(raw) < 4 * _SAMPLE or raw.null_count:
        return False
    return pc.count_distinct(raw.slice(0, _SAMPLE)).as_py() < _SAMPLE // 4


def _clean_distinct(
    raw: pa.Array, col: ColumnSpec, schema: SourceSchema, problems: Problems
) -> list[pa.Array]:
    """Clean the column's distinct values, then expand results and problems to rows."""
    encoded = pc.dictionary_encode(raw)
    found = Problems(len(encoded.dictionary))
    cleaned = _clean_column(encoded.dictionary, col, schema, found)
    problems.extend_taken(found, encoded.indices)
    return [pc.take(values, encoded.indices) for values in cleaned]


def _clean_column(
    raw: pa.Array, col: ColumnSpec, schema: SourceSchema, problems: Problems
) -> list[pa.Array]:
    """The lake columns one declared column produces (a dict column gives several)."""
    required = col.required or col.name in schema.primary_key
    if col.type == "dict":
        text = _tidy(_to_text(raw, col.name, problems), col, schema.null_values)
        return _clean_dict(text, col, schema.null_values, required, problems)
    return [_clean_value(raw, col, col.name, schema.null_values, required, problems)]


def _clean_value(
    raw: pa.Array,
    col: ColumnSpec,
    name: str,
    nulls: tuple[str, ...],
    required: bool,
    problems: Problems,
) -> pa.Array:
    """One column: text -> tidy text -> typed value, then the declared checks."""
    typed = _already_typed(raw, col)
    present = typed
    if typed is None:
        present = _tidy(_to_text(raw, name, problems), col, nulls)
        typed = _PARSERS[col.type](present, col, name, problems)
    if required:  # a value that is there but unreadable already has its own reason
        problems.add(pc.is_null(present), name, "required value is missing")
    _check_range(typed, col, name, problems)
    if col.type == "string":
        _check_string(typed, col, name, problems)
    return typed


def _already_typed(raw: pa.Array, col: ColumnSpec) -> pa.Array | None:
    """Parquet columns that already hold the declared type skip text parsing."""

    kind = raw.type
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind):
        return None
    target = _arrow_type(col.type)
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    compatible = (
        (col.type in ("int", "float") and numeric)
        or (col.type == "bool" and pa.types.is_boolean(kind))
        or (
            col.type in ("date", "timestamp")
            and (pa.types.is_date(kind) or pa.types.is_timestamp(kind))
        )
    )
    if not compatible:
        return None
    try:
        return pc.cast(raw, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _to_text(raw: pa.Array, name: str, problems: Problems) -> pa.Array:
    """Binary or typed input as UTF-8 strings; invalid UTF-8 becomes a row problem."""

    if pa.types.is_string(raw.type):
        return raw
    try:
        return pc.cast(raw, pa.string())
    except pa.ArrowInvalid:
        values = []
        for value in raw.to_pylist():
            try:
                values.append(None if value is None else value.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
        text = pa.array(values, pa.string())
        broken = pc.and_(pc.is_valid(raw), pc.is_null(text))
        problems.add(broken, name, "not valid UTF-8 text (declare the file's `encoding`)")
        return text


def _tidy(text: pa.Array, col: ColumnSpec, nulls: tuple[str, ...]) -> pa.Array:
    """Strip declared substrings, trim, normalise Unicode, map null spellings to null."""

    for literal in col.strip:
        text = pc.replace_substring(text, literal, "")
    if col.trim:
        text = pc.utf8_trim_whitespace(text)
    normalise = col.normalize not in (None, "none") and col.type in ("string", "dict")
    if normalise and not pc.all(pc.string_is_ascii(text)).as_py():  # ASCII is already normal
        text = pc.utf8_normalize(text, form=col.normalize)
    is_null_text = pc.is_in(text, value_set=pa.array(nulls, pa.string()))
    return pc.if_else(is_null_text, pa.scalar(None, pa.string()), text)


def _parse_string(text: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> pa.Array:

    if col.case == "lower":
        return pc.utf8_lower(text)
    if col.case == "upper":
        return pc.utf8_upper(text)
    return text


@cache
def _number_pattern(decimal: str, thousands: str | None, integer: bool) -> str:
    digits = r"\d+"
    if thousands:
        digits = rf"(?:\d+|\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+)"
    if integer:
        return rf"^[+-]?{digits}$"
    d = re.escape(decimal)
    return rf"^[+-]?(?:{digits}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?$"


def _parse_number(text: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> pa.Array:
    integer = col.type == "int"
    well_formed = pc.match_substring_regex(
        text, _number_pattern(col.decimal, col.thousands, integer)
    )
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(well_formed, False)))
    what = "a whole number" if integer else "a number"
    seps = f"decimal {col.decimal!r}" + (f", thousands {col.thousands!r}" if col.thousands else "")
    problems.add(bad, name, f"not {what} ({seps})")
    clean = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    if col.thousands:
        clean = pc.replace_substring(clean, col.thousands, "")
    if col.decimal != ".":
        clean = pc.replace_substring(clean, col.decimal, ".")
    if integer:
        return _to_int64(clean, name, problems)
    values = pc.cast(clean, pa.float64())
    infinite = pc.invert(pc.fill_null(pc.is_finite(values), True))
    problems.add(infinite, name, "number too large")
    return pc.if_else(infinite, pa.scalar(None, pa.float64()), values)


_INT64_MAX = str(2**63 - 1)


def _to_int64(digits: pa.Array, name: str, problems: Problems) -> pa.Array:
    """Signed digit strings to int64; values beyond 64 bits are a row problem."""
    digits = pc.replace_substring_regex(digits, r"^\+", "")  # Arrow's cast refuses a plus sign
    magnitude = pc.replace_substring_regex(digits, r"^-", "")
    length = pc.utf8_length(magnitude)
    too_big = pc.or_(
        pc.greater(length, len(_INT64_MAX)),
        pc.and_(pc.equal(length, len(_INT64_MAX)), pc.greater(magnitude, _INT64_MAX)),
    )
    problems.add(too_big, name, "whole number too large for 64 bits")
    return pc.cast(pc.if_else(too_big, pa.scalar(None, pa.string()), digits), pa.int64())


def _parse_bool(text: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> pa.Array:

    lowered = pc.utf8_lower(text)
    truthy = pc.is_in(lowered, value_set=pa.array([v.lower() for v in col.true_values]))
    falsy = pc.is_in(lowered, value_set=pa.array([v.lower() for v in col.false_values]))
    unknown = pc.and_(pc.is_valid(text), pc.invert(pc.or_(truthy, falsy)))
    allowed = "/".join(col.true_values + col.false_values)
    problems.add(unknown, name, f"not a yes/no value (accepted: {allowed})")
    return pc.if_else(pc.or_(unknown, pc.is_null(text)), pa.scalar(None, pa.bool_()), truthy)


_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _parse_date(text: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> pa.Array:

    timestamp = col.type == "timestamp"
    if col.format:
        formats: tuple[str, ...] = (col.format,)
    else:
        formats = _TIMESTAMP_FORMATS if timestamp else ("%Y-%m-%d",)
        text = pc.replace_substring_regex(text, r"^(\d{4}-\d\d-\d\d)T", r"\1 ")
        text = pc.replace_substring_regex(text, r"(\.\d+)?Z?$", "")
    parsed = None
    for fmt in formats:
        attempt = _strict_strptime(text, fmt)
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
    bad = pc.and_(pc.is_valid(text), pc.is_null(parsed))
    problems.add(bad, name, f"not a valid {col.type} in format {' or '.join(formats)}")
    return pc.cast(parsed, _arrow_type(col.type))


def _strict_strptime(text: pa.Array, fmt: str) -> pa.Array:
    """strptime that refuses impossible dates like 31/02 (Arrow rolls them over)."""

    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    if "%d" not in fmt:
        return parsed
    strip_zeros = r"(^|\D)0+(\d)"
    whole_seconds = pc.cast(parsed, pa.timestamp("s"), safe=False)  # %S would print fractions
    again = pc.replace_substring_regex(pc.strftime(whole_seconds, format=fmt), strip_zeros, r"\1\2")
    given = pc.replace_substring_regex(text, strip_zeros, r"\1\2")
    rolled_over = pc.fill_null(pc.not_equal(again, given), False)
    return pc.if_else(rolled_over, pa.scalar(None, parsed.type), parsed)


_PARSERS = {
    "string": _parse_string,
    "int": _parse_number,
    "float": _parse_number,
    "bool": _parse_bool,
    "date": _parse_date,
    "timestamp": _parse_date,
}


def _check_range(values: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> None:

    checks = ((col.min, pc.less, "below the minimum"), (col.max, pc.greater, "above the maximum"))
    for bound, compare, words in checks:
        if bound is None:
            continue
        limit = pa.scalar(bound)
        if col.type in ("date", "timestamp"):
            limit = pc.cast(pc.strptime(pa.scalar(str(bound)), "%Y-%m-%d", "us"), values.type)
        problems.add(compare(values, limit), name, f"{words} {bound}")


def _check_string(values: pa.Array, col: ColumnSpec, name: str, problems: Problems) -> None:

    if col.allowed is not None:
        unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, pa.array(col.allowed))))
        shown = ", ".join(col.allowed[:8]) + (", ..." if len(col.allowed) > 8 else "")
        problems.add(unknown, name, f"not one of the allowed values ({shown})")
    if col.pattern is not None:
        mismatch = pc.invert(pc.match_substring_regex(values, f"^(?:{col.pattern})$"))
        problems.add(mismatch, name, f"does not match the pattern {col.pattern}")
    if col.max_length is not None:
        too_long = pc.greater(pc.utf8_length(values), col.max_length)
        problems.add(too_long, name, f"longer than {col.max_length} characters")


def _clean_dict(
    text: pa.Array, col: ColumnSpec, nulls: tuple[str, ...], required: bool, problems: Problems
) -> list[pa.Array]:
    """Expand ``key:value;key:value`` strings into one typed column per declared key."""

    item, kv = re.escape(col.item_separator), re.escape(col.key_separator)
    entry = rf"\s*[^{item}{kv}]+{kv}[^{item}]*"
    shape = rf"^{entry}(?:{item}{entry})*{item}?\s*$"
    malformed = pc.and_(pc.is_valid(text), pc.invert(pc.match_substring_regex(text, shape)))
    problems.add(malformed, col.name, f"not a list of key{col.key_separator}value pairs")
    if required:
        problems.add(pc.is_null(text), col.name, "required value is missing")
    columns = []
    for spec in col.fields:
        key = re.escape(spec.source or spec.name)
        found = pc.extract_regex(text, rf"(?:^|{item})\s*{key}\s*{kv}(?P<v>[^{item}]*)")
        value = pc.if_else(
            pc.is_valid(found), pc.struct_field(found, [0]), pa.scalar(None, pa.string())
        )
        columns.append(
            _clean_value(value, spec, f"{col.name}_{spec.name}", nulls, spec.required, problems)
        )
    return columns
