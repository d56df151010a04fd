"""`appliance score`: a file of raw records in, a file of decisions out, streamed.

The input is read like an ingest of the use case's population source (CSV with the
source's delimiter and encoding, or Parquet), batch by batch, cleaned by the same
rules; each batch is scored by the serving engine (so by the production version's
compiled library where the batch path measured faster, with TreeSHAP reasons) and
written out before the next is read. Every input row has an output row: scored, or
rejected with the field and the problem (lines a CSV parser cannot split follow their
batch, numbered after it). Every scored row is in the prediction log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from appliance.errors import SchemaError
from appliance.ingest.cleaning import clean_batch
from appliance.ingest.reader import MalformedRow, SourceReader
from appliance.serving.engine import Engine
from appliance.serving.records import FieldProblem

__all__ = ["BatchReport", "score_file"]

Progress = Callable[[int, int], None]  # (bytes read, file size)
_OUTPUT_FIELDS = ("row", "request_id", "model", "version", "probability", "score", "decision",
                  "flagged", "threshold", "reasons", "error")  # fmt: skip


@dataclass(frozen=True)
class BatchReport:
    rows: int
    scored: int
    rejected: int
    output: Path
    version: int


def score_file(
    engine: Engine, model: str, source: Path, output: Path, *, key_id: str = "batch",
    progress: Progress = lambda _done, _total: None,
) -> BatchReport:  # fmt: skip
    """Score every record of ``source`` into ``output`` (.csv or .parquet)."""
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise SchemaError(f"--output {output.name}: write .csv or .parquet")
    host = engine.host(model)
    # the file's own kind (by its suffix), whatever the source declares for its inbox
    schema = replace(host.schema.population, extra_columns="ignore", format=None)
    reader = SourceReader(source, schema)
    malformed: list[MalformedRow] = []
    partial = output.with_name(f".{output.name}.partial")
    writer: Any = None
    rows = scored = 0
    try:
        for raw in reader.batches(malformed.append):
            results = _score_raw(engine, model, host, schema, raw, key_id, first_row=rows)
            results += [{"row": rows + raw.num_rows + k, "error": f"malformed line: {m.reason}"}
                        for k, m in enumerate(malformed)]  # fmt: skip
            rows += raw.num_rows + len(malformed)
            malformed.clear()
            scored += sum("error" not in r for r in results)
            table = _as_table(results, model)
            writer = writer or _open(partial, table.schema)
            writer.write_table(table)
            progress(reader.bytes_read, reader.size)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        _open(partial, _as_table([], model).schema).close()
    partial.replace(output)
    return BatchReport(rows, scored, rows - scored, output, host.slots["production"].version)


def _score_raw(
    engine: Engine, model: str, host: Any, schema: Any, raw: pa.RecordBatch, key_id: str,
    *, first_row: int,
) -> list[dict[str, Any]]:  # fmt: skip
    clean, found = clean_batch(raw, schema)
    problems = [FieldProblem(column, reason, row)
                for mask, column, reason in found.checks
                for row in [i for i, hit in enumerate(mask.to_pylist()) if hit]]  # fmt: skip
    table = pa.Table.from_batches([clean])
    results = engine.score_clean(model, table, problems, key_id=key_id)
    for r in results:
        r["row"] += first_row
    return results


def _as_table(results: list[dict[str, Any]], model: str) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in _OUTPUT_FIELDS}
    for r in results:
        for name in _OUTPUT_FIELDS:
            value = r.get(name)
            if name == "reasons":
                value = json.dumps(value) if value is not None else None
            if name == "model":
                value = model
            columns[name].append(value)
    types = {"row": pa.int64(), "request_id": pa.string(), "model": pa.string(),
             "version": pa.int64(), "probability": pa.float64(), "score": pa.float64(),
             "decision": pa.string(), "flagged": pa.bool_(), "threshold": pa.float64(),
             "reasons": pa.string(), "error": pa.string()}  # fmt: skip
    return pa.table({name: pa.array(columns[name], types[name]) for name in _OUTPUT_FIELDS})


def _open(path: Path, schema: pa.Schema) -> Any:
    if path.name.lower().endswith(".parquet.partial"):
        return pq.ParquetWriter(str(path), schema)
    return pcsv.CSVWriter(str(path), schema)
