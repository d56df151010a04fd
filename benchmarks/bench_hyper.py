"""Writing the published ``scores`` table into a Tableau Hyper extract, three ways.

- **appliance**: what ``appliance publish`` does: the table's batches (131,072 rows)
  into the Arrow IPC parts of the data set (``DataSet.write_parts``, a million rows
  each), each loaded with ``COPY ... WITH (FORMAT ARROWFILE)`` into the declared table
  while the next part is written (``connectors.hyper.CopyQueue``: telemetry off, no log
  file), process start included.
- **pantab**: ``pantab.frame_to_hyper``, the known-fast writer, given the same data as a
  pandas DataFrame (its usual input) and as the Arrow table itself; the faster counts.
- **inserter**: the Hyper API's own ``Inserter``, row by row, on ``--inserter-rows``
  rows only (it manages tens of thousands of rows a second), reported as rows/s.

The rows are generated in memory with the published ``scores`` schema (31 columns:
ids, timestamps, dates, doubles, booleans, texts), so every writer starts from the same
data and only the writing is timed. Runs are interleaved; each figure is the best of
``--repeats``. Beside wall time, each writer's CPU time (this process and the Hyper
server it started) is reported: on a shared machine it is the steadier comparison.
Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import hyper
from connectors.catalogue import table_named
from connectors.dataset import DataSet
from connectors.rows import BATCH_ROWS

GOAL = 1.3  # at least this many times pantab's throughput


def scores_table(rows: int, seed: int = 0) -> pa.Table:
    """``rows`` synthetic score rows in the published schema."""
    table = table_named("scores")
    rng = np.random.default_rng(seed)
    ids = np.arange(1, rows + 1, dtype=np.int64)
    micros = np.int64(1_735_689_600_000_000) + ids * 1_000_000

    def pick(values: list[str], index: np.ndarray) -> pa.Array:
        return pa.array(np.array(values, dtype=object)[index], pa.string())

    def prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(numbers),
                                                                      pa.string()), "")

    outcome = pa.array(np.where(ids % 4 == 0, ids % 2, 0), mask=ids % 4 != 0)
    texts = [f"Reason {k}: missed phone-bill payments in the last months" for k in range(40)]
    columns = {
        "prediction_id": pa.array(ids), "request_id": prefixed("r-", ids),
        "scored_at": pa.array(micros, pa.timestamp("us")),
        "scored_date": pa.array((micros // 86_400_000_000).astype(np.int32), pa.date32()),
        "model": pick(["credit_default", "card_fraud"], ids % 2),
        "version": pa.array(ids % 3 + 1), "role": pick(["production", "challenger", "shadow"],
                                                      ids % 3),
        "served": pa.array(ids % 3 != 2), "entity_id": prefixed("C-", ids // 2),
        "application_id": prefixed("A-", ids),
        "branch": pick([f"B{i:03d}" for i in range(200)], ids % 200),
        "region": pick([f"region_{i}" for i in range(27)], ids % 27),
        "probability": pa.array(rng.random(rows)), "score": pa.array(rng.random(rows) * 550 + 300),
        "kind": pick(["classification"], ids * 0),
        "decision": pick(["approve", "decline"], ids % 2),
        "prediction": pa.nulls(rows, pa.float64()),
        **{f"reason_{k}": pick([f"R{j:02d}" for j in range(40)], (ids * k) % 40)
           for k in range(1, 5)},
        **{f"reason_{k}_text": pick(texts, (ids * k) % 40) for k in range(1, 5)},
        "latency_ms": pa.array(rng.random(rows) * 3), "outcome": outcome,
        "actual": pa.nulls(rows, pa.float64()),
        "outcome_observed_at": pc.if_else(pc.is_null(outcome), pa.scalar(None, pa.date32()),
                                          pa.array((micros // 86_400_000_000).astype(np.int32),
                                                   pa.date32())),
    }  # fmt: skip
    return pa.Table.from_arrays([columns[c] for c in table.column_names],
                                schema=table.arrow_schema())


def write_appliance(data: pa.Table, folder: Path) -> None:
    table = table_named("scores")
    dataset = DataSet((folder / "data").resolve())
    batches = data.to_batches(max_chunksize=BATCH_ROWS)
    with hyper.hyper_process() as process, hyper.open_extract(
        process, folder / "appliance.hyper", create=True
    ) as conn:
        hyper.run(conn, [hyper.create_table_sql(table)], what="benchmark")
        with hyper.CopyQueue(conn, "scores", what="benchmark") as copies:
            for part, _rows in dataset.write_parts("scores", 1, batches, data.schema):
                copies.submit(dataset.root / part)
    shutil.rmtree(dataset.root)


def write_pantab(data: object, folder: Path) -> None:
    import pantab
    from tableauhyperapi import TableName

    pantab.frame_to_hyper(data, folder / "pantab.hyper", table=TableName("Extract", "scores"))


def write_inserter(data: pa.Table, folder: Path) -> None:
    from tableauhyperapi import Inserter, TableDefinition, TableName

    table = table_named("scores")
    with hyper.hyper_process() as process, hyper.open_extract(
        process, folder / "inserter.hyper", create=True
    ) as conn:
        hyper.run(conn, [hyper.create_table_sql(table)], what="benchmark")
        definition = conn.catalog.get_table_definition(TableName("Extract", "scores"))
        assert isinstance(definition, TableDefinition)
        with Inserter(conn, definition) as inserter:
            for batch in data.to_batches(max_chunksize=10_000):
                inserter.add_rows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
            inserter.execute()


def rows_in(path: Path) -> int:
    with hyper.hyper_process() as process, hyper.open_extract(process, path,
                                                              create=False) as conn:
        return int(conn.execute_scalar_query('SELECT count(*) FROM "Extract"."scores"'))


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (each writer's hyperd)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def best(runs: dict[str, list[tuple[float, float]]], name: str, call: Callable[[], None]
         ) -> None:  # fmt: skip
    started, cpu = time.perf_counter(), cpu_seconds()
    call()
    runs.setdefault(name, []).append((time.perf_counter() - started, cpu_seconds() - cpu))
    wall, used = runs[name][-1]
    print(f"  {name:16s} {wall:7.2f} s  (cpu {used:6.2f} s)", flush=True)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inserter-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1 or args.inserter_rows < 1:
        parser.error("--rows, --repeats and --inserter-rows must be at least 1")
    print(f"generating {args.rows:,} score rows", flush=True)
    data = scores_table(args.rows)
    frame = data.to_pandas()
    small = data.slice(0, min(args.inserter_rows, args.rows))
    folder = Path(tempfile.mkdtemp(prefix="bench-hyper-"))
    runs: dict[str, list[tuple[float, float]]] = {}
    try:
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            best(runs, "appliance", lambda: write_appliance(data, folder))
            best(runs, "pantab_pandas", lambda: write_pantab(frame, folder))
            best(runs, "pantab_arrow", lambda: write_pantab(data, folder))
        best(runs, "inserter", lambda: write_inserter(small, folder))
        counts = {name: rows_in(folder / f"{name}.hyper")
                  for name in ("appliance", "pantab", "inserter")}  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    seconds = {name: min(wall for wall, _ in times) for name, times in runs.items()}
    cpu = {name: min(used for _, used in times) for name, times in runs.items()}
    rate = {name: (small.num_rows if name == "inserter" else args.rows) / s
            for name, s in seconds.items()}  # fmt: skip
    pantab_best = max(rate["pantab_pandas"], rate["pantab_arrow"])
    ratios = {"speedup_vs_pantab": rate["appliance"] / pantab_best,
              "speedup_vs_inserter": rate["appliance"] / rate["inserter"],
              "cpu_pantab_over_appliance": min(cpu["pantab_pandas"], cpu["pantab_arrow"])
              / cpu["appliance"]}  # fmt: skip
    print(f"rows/s: appliance {rate['appliance']:,.0f}, pantab {pantab_best:,.0f} (pandas"
          f" {rate['pantab_pandas']:,.0f}, arrow {rate['pantab_arrow']:,.0f}), inserter"
          f" {rate['inserter']:,.0f}")  # fmt: skip
    print(f"appliance / pantab: {ratios['speedup_vs_pantab']:.2f}x (goal {GOAL}x);"
          f" / inserter: {ratios['speedup_vs_inserter']:.0f}x; CPU time pantab / appliance:"
          f" {ratios['cpu_pantab_over_appliance']:.2f}x")  # fmt: skip
    result: dict[str, object] = {
        "benchmark": "hyper", "rows": args.rows,
        "figures": {"seconds": seconds, "cpu_seconds": cpu, "rows_per_s": rate,
                    "rows_written": counts},
        "ratios": ratios, "goals": {"speedup_vs_pantab": GOAL},
        "met": {"speedup_vs_pantab": ratios["speedup_vs_pantab"] >= GOAL},
    }  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
