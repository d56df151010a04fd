"""Source schemas: a bank analyst's TOML description of a file the appliance ingests.

Parsing and validation only; nothing here reads data. The format is documented in
``docs/sources.md``; every error names the schema file and the offending field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import SchemaError
from appliance.toml_files import read_toml

__all__ = ["COLUMN_TYPES", "ColumnSpec", "SourceSchema", "load_schema", "parse_schema"]

COLUMN_TYPES = ("string", "int", "float", "bool", "date", "timestamp", "dict")
DEFAULT_NULLS = ("", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "-")
DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
DEFAULT_FALSE = ("false", "f", "no", "n", "0")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a source, and for ``dict`` columns, the typed fields inside it."""

    name: str
    type: str = "string"
    source: str | None = None
    required: bool = False
    trim: bool = True
    normalize: str | None = "NFC"
    case: str | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    max_length: int | None = None
    decimal: str = "."
    thousands: str | None = None
    strip: tuple[str, ...] = ()
    min: float | str | None = None
    max: float | str | None = None
    format: str | None = None
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    item_separator: str = ";"
    key_separator: str = ":"
    fields: tuple[ColumnSpec, ...] = ()

    @property
    def header(self) -> str:
        """The column's name in the incoming file."""
        return self.source if self.source is not None else self.name

    def output_names(self) -> list[str]:
        """Columns this spec produces in the lake (a dict column expands into its fields)."""
        if self.type == "dict":
            return [f"{self.name}_{f.name}" for f in self.fields]
        return [self.name]


@dataclass(frozen=True)
class SourceSchema:
    """A whole source: how to read the file, which columns it has, what makes a row valid."""

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    format: str | None = None
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    multiline: bool = True
    header: bool = True
    null_values: tuple[str, ...] = DEFAULT_NULLS
    primary_key: tuple[str, ...] = ()
    time_column: str | None = None
    extra_columns: str = "error"
    inbox_pattern: str | None = None
    fingerprint: str = field(default="", compare=False)
    path: str = field(default="<inline>", compare=False)

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(f"{self.path}: no column named {name!r}")

    def output_names(self) -> list[str]:
        return [name for col in self.columns for name in col.output_names()]


def load_schema(path: Path) -> SourceSchema:
    """Read and validate a schema file."""
    data, fingerprint = read_toml(path, "source schema")
    return parse_schema(data, origin=str(path), fingerprint=fingerprint)


def parse_schema(
    data: Mapping[str, Any], origin: str = "<inline>", fingerprint: str | None = None
) -> SourceSchema:
    """Build a SourceSchema from parsed TOML, checking every field."""
    where = _Where(origin)
    known = {f for f in SourceSchema.__dataclass_fields__ if f not in {"fingerprint", "path"}}
    where.no_unknown(data, known, "the top level")
    name = where.name(data.get("name"), "name")
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise where.error("columns", "declare at least one [[columns]] table")
    columns = tuple(_column(where, c, f"columns[{i}]") for i, c in enumerate(raw_columns))
    options = {k: data[k] for k in known if k in data and k not in {"name", "columns"}}
    for key in ("null_values", "primary_key"):
        if key in options:
            options[key] = tuple(where.str_list(options[key], key))
    schema = SourceSchema(
        name=name,
        columns=columns,
        fingerprint=fingerprint or hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest(),
        path=origin,
        **options,
    )
    _check_schema(where, schema)
    return schema


def _column(where: _Where, raw: Any, at: str) -> ColumnSpec:
    if not isinstance(raw, Mapping):
        raise where.error(at, "must be a table with at least `name` and `type`")
    known = set(ColumnSpec.__dataclass_fields__)
    where.no_unknown(raw, known, at)
    name = where.name(raw.get("name"), f"{at}.name")
    at = f"column {name!r}"
    kind = raw.get("type", "string")
    if kind not in COLUMN_TYPES:
        raise where.error(f"{at}.type", f"{kind!r} is not one of {', '.join(COLUMN_TYPES)}")
    options = dict(raw)
    for key in ("allowed", "strip", "true_values", "false_values"):
        if key in options:
            options[key] = tuple(where.str_list(options[key], f"{at}.{key}"))
    if kind == "dict":
        raw_fields = raw.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            raise where.error(f"{at}.fields", "a dict column needs a list of typed fields")
        options["fields"] = tuple(
            _column(where, f, f"{at}.fields[{i}]") for i, f in enumerate(raw_fields)
        )
        if any(f.type == "dict" for f in options["fields"]):
            raise where.error(f"{at}.fields", "dict columns cannot nest")
    elif "fields" in raw:
        raise where.error(f"{at}.fields", "only dict columns have fields")
    spec = ColumnSpec(**options)
    _check_column(where, spec, at)
    return spec


def _check_column(where: _Where, col: ColumnSpec, at: str) -> None:
    if col.normalize not in (None, "none", "NFC", "NFKC", "NFD", "NFKD"):
        raise where.error(f"{at}.normalize", "use NFC, NFKC, NFD, NFKD or none")
    if col.case not in (None, "lower", "upper"):
        raise where.error(f"{at}.case", "use lower or upper")
    if col.type in ("int", "float"):
        if len(col.decimal) != 1 or (col.thousands is not None and len(col.thousands) != 1):
            raise where.error(at, "decimal and thousands separators are single characters")
        if col.decimal == col.thousands:
            raise where.error(at, "decimal and thousands separators must differ")
        for bound in ("min", "max"):
            value = getattr(col, bound)
            if value is not None and not isinstance(value, int | float):
                raise where.error(f"{at}.{bound}", "must be a number")
    if col.type in ("date", "timestamp"):
        for bound in ("min", "max"):
            value = getattr(col, bound)
            if value is not None and not isinstance(value, str):
                raise where.error(f"{at}.{bound}", "must be an ISO date string like 2020-01-31")
    if col.pattern is not None:
        try:
            re.compile(col.pattern)
        except re.error as exc:
            raise where.error(f"{at}.pattern", f"not a valid regular expression: {exc}") from exc
    if col.type == "dict" and col.item_separator == col.key_separator:
        raise where.error(at, "item_separator and key_separator must differ")


def _check_schema(where: _Where, schema: SourceSchema) -> None:
    names = schema.output_names()
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise where.error("columns", f"column names repeat: {', '.join(duplicates)}")
    headers = [c.header for c in schema.columns]
    if len(set(headers)) != len(headers):
        raise where.error("columns", "two columns read the same header")
    for key in schema.primary_key:
        if key not in names:
            raise where.error("primary_key", f"{key!r} is not a declared column")
    if schema.time_column is not None:
        if schema.time_column not in names:
            raise where.error("time_column", f"{schema.time_column!r} is not a declared column")
        kinds = {c.name: c.type for c in schema.columns}
        if kinds.get(schema.time_column) not in ("date", "timestamp"):
            raise where.error("time_column", "must name a date or timestamp column")
    if schema.format not in (None, "csv", "parquet"):
        raise where.error("format", "use csv or parquet")
    if schema.extra_columns not in ("error", "ignore"):
        raise where.error("extra_columns", "use error or ignore")
    if len(schema.delimiter) != 1 or len(schema.quote) != 1:
        raise where.error("delimiter", "delimiter and quote are single characters")
    try:
        "".encode(schema.encoding)
    except LookupError as exc:
        raise where.error("encoding", f"unknown encoding {schema.encoding!r}") from exc


@dataclass(frozen=True)
class _Where:
    origin: str

    def error(self, at: str, message: str) -> SchemaError:
        return SchemaError(f"{self.origin}: {at}: {message}")

    def name(self, value: Any, at: str) -> str:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise self.error(at, f"{value!r} is not a valid name (letters, digits, '_')")
        return value

    def str_list(self, value: Any, at: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(at, "must be a list of strings")
        return list(value)

    def no_unknown(self, raw: Mapping[str, Any], known: set[str], at: str) -> None:
        unknown = sorted(set(raw) - known)
        if unknown:
            raise self.error(at, f"unknown field(s) {', '.join(unknown)}")
