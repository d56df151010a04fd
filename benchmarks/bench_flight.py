"""Streaming the published ``scores`` table to a client over Flight on loopback.

- **appliance**: ``SELECT * FROM scores`` through the appliance's Flight SQL endpoint
  (API-key login, DuckDB over the published Parquet, the outcome join of the ``scores``
  view, 64k-row batches), fetched with the ADBC Flight SQL driver's DB-API cursor
  (``fetch_arrow_table``), which prepares, gets the flight info and streams ``DoGet``.
- **bare flight**: a plain ``pyarrow.flight`` server returning the same table from memory
  in 64k-row batches (no SQL, no auth, no disk), fetched with ``pyarrow.flight``'s
  client: the transport's ceiling on this machine.

Both servers run in this process on 127.0.0.1; the table (``bench_hyper.scores_table``)
is published to a temporary home first, which is not timed. Figures are the best of
``--repeats`` interleaved runs, as GB/s of Arrow data (the in-memory size) and rows/s.
Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hyper import scores_table

GOAL = 0.7  # of the bare server's throughput
BATCH = 65_536


class BareServer(flight.FlightServerBase):
    """The ceiling: one in-memory table, any ticket, 64k-row batches."""

    def __init__(self, table: pa.Table) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def do_get(self, context: object, ticket: flight.Ticket) -> flight.FlightDataStream:
        return flight.GeneratorStream(self.table.schema,
                                      iter(self.table.to_batches(max_chunksize=BATCH)))


def publish_table(home_root: Path, data: pa.Table, outcome_share: float) -> str:
    """A data home with ``data`` as the published scores (and some outcomes); returns an
    analyst key."""
    from appliance.access import create_key
    from appliance.home import DataHome
    from appliance.store.db import connect, now_iso
    from connectors.catalogue import table_named
    from connectors.dataset import DataSet, TableFiles
    from connectors.publisher import data_folder

    home = DataHome(home_root)
    home.layout()
    db = connect(home.db_path)
    key = create_key(db, "analyst", "bench", actor="bench")[1]
    db.close()
    dataset = DataSet.open(data_folder(home))
    entries = {}
    step = max(1, round(1 / outcome_share)) if outcome_share > 0 else data.num_rows + 1
    known = data.take(pa.array(range(0, data.num_rows, step)))
    outcomes = table_named("outcomes")
    outcome_data = pa.table({
        "prediction_id": known.column("prediction_id"), "request_id": known.column("request_id"),
        "model": known.column("model"), "version": known.column("version"),
        "outcome": pa.array([i % 2 for i in range(known.num_rows)], pa.int64()),
        "actual": pa.nulls(known.num_rows, pa.float64()),
        "observed_at": known.column("scored_date"), "recorded_at": known.column("scored_at"),
    }).cast(outcomes.arrow_schema())  # fmt: skip
    for name, table in (("scores", data), ("outcomes", outcome_data)):
        spec = table_named(name)
        part, rows = dataset.write_part(name, 1, table.to_batches(max_chunksize=1 << 17),
                                        spec.arrow_schema())  # fmt: skip
        entries[name] = TableFiles(spec.schema_sha256(), 1, rows, (part,), None)
    dataset.commit(entries, now_iso())
    return key


def fetch_appliance(uri: str, key: str) -> pa.Table:
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(uri, db_kwargs={"username": "bench", "password": key},
                           autocommit=True) as conn, conn.cursor() as cursor:  # fmt: skip
        cursor.execute("SELECT * FROM scores")
        return cursor.fetch_arrow_table()


def fetch_bare(uri: str) -> pa.Table:
    return flight.FlightClient(uri).do_get(flight.Ticket(b"scores")).read_all()


def main(argv: list[str] | None = None) -> dict[str, object]:
    from appliance.home import DataHome
    from connectors.flightsql.service import FlightService

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--outcome-share", type=float, default=0.1,
                        help="share of score rows with an outcome (the view joins them)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1 or not 0 <= args.outcome_share <= 1:
        parser.error("--rows and --repeats must be at least 1, --outcome-share in [0, 1]")
    print(f"generating and publishing {args.rows:,} score rows", flush=True)
    data = scores_table(args.rows)
    size = data.nbytes
    folder = Path(tempfile.mkdtemp(prefix="bench-flight-"))
    service = bare = None
    runs: dict[str, list[float]] = {"appliance": [], "bare_flight": []}
    try:
        key = publish_table(folder / "home", data, args.outcome_share)
        service = FlightService(DataHome(folder / "home"), port=0, batch_rows=BATCH)
        service.start()
        bare = BareServer(data)
        threading.Thread(target=bare.serve, daemon=True).start()
        uris = {"appliance": f"grpc://127.0.0.1:{service.bound_port}",
                "bare_flight": f"grpc://127.0.0.1:{bare.port}"}  # fmt: skip
        for repeat in range(args.repeats):
            for name in runs:
                started = time.perf_counter()
                got = (fetch_appliance(uris[name], key) if name == "appliance"
                       else fetch_bare(uris[name]))  # fmt: skip
                runs[name].append(time.perf_counter() - started)
                if got.num_rows != args.rows:
                    raise SystemExit(f"{name} returned {got.num_rows} rows, not {args.rows}")
                print(f"  {repeat + 1}: {name:12s} {runs[name][-1]:6.2f} s", flush=True)
                del got
    finally:
        if service is not None:
            service.stop(5)
        if bare is not None:
            bare.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    seconds = {name: min(times) for name, times in runs.items()}
    gbps = {name: size / s / 1e9 for name, s in seconds.items()}
    rows_s = {name: args.rows / s for name, s in seconds.items()}
    share = gbps["appliance"] / gbps["bare_flight"]
    print(f"appliance {gbps['appliance']:.2f} GB/s ({rows_s['appliance']:,.0f} rows/s), bare"
          f" flight {gbps['bare_flight']:.2f} GB/s ({rows_s['bare_flight']:,.0f} rows/s):"
          f" {share:.0%} of the ceiling (goal {GOAL:.0%})")  # fmt: skip
    result: dict[str, object] = {
        "benchmark": "flight", "rows": args.rows,
        "figures": {"bytes": size, "seconds": seconds, "gb_per_s": gbps, "rows_per_s": rows_s},
        "ratios": {"share_of_bare_flight": share}, "goals": {"share_of_bare_flight": GOAL},
        "met": {"share_of_bare_flight": share >= GOAL},
    }  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
