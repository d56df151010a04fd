"""A raw applicant record from a request, typed and checked by its source schema.

The fields are those of the use case's population dataset, exactly as ingest reads
them (same types, formats, ranges, allowed values, patterns, lengths), less the
target, which is not known at scoring time. A joined table's record (a new
customer the lake has not seen yet) may come along as a nested object named like
the join. Every problem is reported with the field it is in, all at once; nothing
is coerced silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pyarrow as pa

from appliance.errors import ApplianceError
from appliance.ingest.cleaning import clean_batch
from appliance.ingest.schema import SourceSchema

__all__ = ["FieldProblem", "InvalidRecord", "RecordSchema", "typed_rows"]

MAX_TEXT = 1_000
"""No field of a scoring request may be longer than this, whatever its schema says."""


@dataclass(frozen=True)
class FieldProblem:
    field: str
    problem: str
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "problem": self.problem}
        if self.row is not None:
            out["row"] = self.row
        return out


class InvalidRecord(ApplianceError):
    """A request record that breaks its schema: 422, with every problem by field."""

    exit_code = 3
    http_status = 422

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else FieldProblem("(record)", "invalid")
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first.field}: {first.problem}{more}")


@dataclass(frozen=True)
class RecordSchema:
    """What a request for one use case may hold: the population fields and joined tables."""

    population: SourceSchema
    target: str
    time: str | None
    joins: Mapping[str, SourceSchema]  # join name -> the joined dataset's schema

    @classmethod
    def build(
        cls, population: SourceSchema, target: str, time: str | None,
        joins: Mapping[str, SourceSchema], *, unused: frozenset[str] = frozenset(),
    ) -> RecordSchema:  # fmt: skip
        """``unused``: population columns the model never reads (another use case's
        outcome, say): a request may leave them out."""
        columns = tuple(replace(c, required=False) if c.name in unused else c
                        for c in population.columns if c.name != target)  # fmt: skip
        return cls(replace(population, columns=columns), target, time, dict(joins))

    @property
    def fields(self) -> list[str]:
        return [c.header for c in self.population.columns]

    def describe(self) -> dict[str, Any]:
        """The request's fields with their types and rules (for GET /v1/models/{name})."""

        def columns(schema: SourceSchema) -> list[dict[str, Any]]:
            return [
                {k: v for k, v in {
                    "name": c.header, "type": c.type,
                    "required": c.required or c.name in schema.primary_key,
                    "min": c.min, "max": c.max, "allowed": list(c.allowed) if c.allowed else None,
                    "pattern": c.pattern, "max_length": c.max_length, "format": c.format,
                }.items() if v is not None}
                for c in schema.columns
            ]  # fmt: skip

        return {"fields": columns(self.population),
                "joins": {name: columns(s) for name, s in self.joins.items()}}  # fmt: skip


def typed_rows(
    schema: RecordSchema, records: Sequence[Mapping[str, Any]], *, today: date,
    strict: bool = True,
) -> tuple[pa.Table, dict[str, pa.Table], list[FieldProblem]]:  # fmt: skip
    """The records as a typed population table (one row per record, in order), the
    joined records given inline (join name -> typed table), and the problems found.

    ``strict`` (one applicant): any problem raises InvalidRecord naming every bad
    field. Otherwise (a batch) bad values come back null, each problem with its row,
    and the caller scores only the rows without one.
    """
    if not records:
        raise InvalidRecord([FieldProblem("(body)", "no records to score")])
    problems: list[FieldProblem] = []
    many = not strict
    known = set(schema.fields) | set(schema.joins)
    inline: dict[str, list[Mapping[str, Any]]] = {}
    rows: list[Mapping[str, Any]] = []
    for i, record in enumerate(records):
        where = i if many else None
        if not isinstance(record, Mapping):
            problems.append(FieldProblem("(record)", "must be a JSON object", where))
            rows.append({})
            continue
        for name in sorted(set(record) - known, key=str):
            why = (
                "is the outcome being predicted; it is not sent for scoring"
                if name == schema.target
                else f"is not a field of this model's records (expected {_listed(known)})"
            )
            problems.append(FieldProblem(str(name)[:100], why, where))
        flat = {k: v for k, v in record.items() if k in schema.fields}
        if schema.time and flat.get(schema.time) is None:
            flat[schema.time] = today.isoformat()  # real time: the decision is made now
        rows.append(flat)
        for join in schema.joins:
            nested = record.get(join)
            if nested is None:
                continue
            if not isinstance(nested, Mapping):
                problems.append(FieldProblem(join, "must be a JSON object", where))
            elif many:
                why = "joined records come one record at a time; score this record on its own"
                problems.append(FieldProblem(join, why, where))
            else:
                inline.setdefault(join, []).append(nested)
    population, found = _typed(schema.population, rows, prefix="", many=many)
    problems.extend(found)
    joined = {}
    for name, items in inline.items():
        joined[name], bad = _typed(schema.joins[name], items, prefix=f"{name}.", many=False)
        problems.extend(bad)
    if problems and strict:
        raise InvalidRecord(problems)
    return population, joined, sorted(problems, key=lambda p: (p.row or 0, p.field))


def _typed(
    schema: SourceSchema, records: Sequence[Mapping[str, Any]], *, prefix: str, many: bool
) -> tuple[pa.Table, list[FieldProblem]]:
    problems: list[FieldProblem] = []
    arrays = []
    for col in schema.columns:
        values = [record.get(col.header) for record in records]
        array, bad = _column(values, col.type)
        for row, why in bad:
            problems.append(FieldProblem(prefix + col.header, why, row if many else None))
        arrays.append(array)
    batch = pa.RecordBatch.from_arrays(arrays, names=[c.header for c in schema.columns])
    clean, found = clean_batch(batch, schema)
    flagged = {(p.row, p.field) for p in problems}
    for mask, column, reason in found.checks:
        for row in [i for i, hit in enumerate(mask.to_pylist()) if hit]:
            if (row if many else None, prefix + column) not in flagged:
                problems.append(FieldProblem(prefix + column, reason, row if many else None))
    return pa.Table.from_batches([clean]), problems


def _column(values: list[Any], kind: str) -> tuple[pa.Array, list[tuple[int, str]]]:
    """JSON values -> an Arrow array the cleaner accepts: numbers stay numbers for
    numeric columns (a source's decimal comma must not misread JSON's 1234.5), all
    else is text parsed by the schema's own rules."""
    bad: list[tuple[int, str]] = []
    numbers = kind in ("int", "float")
    out: list[Any] = []
    for row, value in enumerate(values):
        if value is None:
            out.append(None)
        elif isinstance(value, bool):
            if kind == "bool":
                out.append("true" if value else "false")
            else:
                bad.append((row, f"must be {_expected(kind)}, got true/false"))
                out.append(None)
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                bad.append((row, "must be a finite number (NaN and infinity are not values)"))
                out.append(None)
            elif numbers:
                out.append(float(value))
            else:
                bad.append((row, f"must be {_expected(kind)}, got a number"))
                out.append(None)
        elif isinstance(value, str):
            if len(value) > MAX_TEXT:
                bad.append((row, f"is {len(value)} characters long; at most {MAX_TEXT} allowed"))
                out.append(None)
            else:
                out.append(value)
        else:
            bad.append((row, f"must be {_expected(kind)}, got a JSON {type(value).__name__}"))
            out.append(None)
    if numbers and all(v is None or isinstance(v, float) for v in out):
        return pa.array(out, pa.float64()), bad
    text = [v if v is None or isinstance(v, str) else repr(v) for v in out]
    return pa.array(text, pa.string()), bad


def _expected(kind: str) -> str:
    words = {"int": "a whole number", "float": "a number", "bool": "true or false",
             "date": "a date (text)", "timestamp": "a timestamp (text)"}  # fmt: skip
    return words.get(kind, "text")


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))
