"""Faults around ingest with real processes: a second ingest waiting, a kill -9 mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlite_utils import Database

from appliance import audit
from appliance.errors import IngestError
from appliance.home import DataHome
from appliance.ingest import ingest_file, parse_schema

SCHEMA_TOML = 'name = "nums"\nprimary_key = ["n"]\n[[columns]]\nname = "n"\ntype = "int"\n'
SCHEMA = parse_schema(
    {"name": "nums", "primary_key": ["n"], "columns": [{"name": "n", "type": "int"}]}
)


def _numbers(path: Path, count: int) -> Path:
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(count)))
    return path


def _child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )


def test_a_second_ingest_of_the_same_dataset_waits_then_says_why(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    holder = _child(
        f"""
        from appliance.home import DataHome
        from appliance.ingest.lock import dataset_lock
        import time
        with dataset_lock(DataHome({str(home.root)!r}), "nums", 5):
            print("locked", flush=True)
            time.sleep(30)
        """
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IngestError, match="another ingest of 'nums' is still running"):
            ingest_file(home, db, _numbers(tmp_path / "a.csv", 3), SCHEMA, wait_s=0.3)
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the dead holder's lock: the same ingest now goes through
    assert ingest_file(home, db, tmp_path / "a.csv", SCHEMA, wait_s=5).run.rows_ok == 3


def test_kill_9_mid_ingest_leaves_the_lake_readable_and_is_settled_next_time(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    first = _numbers(tmp_path / "first.csv", 10)
    ingest_file(home, db, first, SCHEMA)
    big = _numbers(tmp_path / "big.csv", 50_000)
    schema_file = tmp_path / "nums.toml"
    schema_file.write_text(SCHEMA_TOML)
    child = _child(
        f"""
        import time
        from pathlib import Path
        import appliance.ingest.reader as reader
        import appliance.ingest.run as run
        from appliance.home import DataHome
        from appliance.ingest import load_schema
        from appliance.store.db import connect

        reader.BLOCK_SIZE = 4096  # many batches
        take = run._Ingestion._take
        def slow_take(self, batch):
            take(self, batch)
            if self.records > 5000:
                print("mid-run", flush=True)
                time.sleep(60)
        run._Ingestion._take = slow_take
        home = DataHome(Path({str(home.root)!r}))
        schema = load_schema(Path({str(schema_file)!r}))
        run.ingest_file(home, connect(home.db_path), Path({str(big)!r}), schema)
        """
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "mid-run"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    statuses = db.execute("SELECT status FROM ingest_runs ORDER BY id").fetchall()
    assert statuses == [("ok",), ("running",)]
    assert list(home.dir("lake").rglob(".tmp-run-2.parquet"))  # the half-written part
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    versions = db.execute("SELECT path FROM dataset_versions").fetchall()
    assert [pq.read_table(home.inside(p)).num_rows for (p,) in versions] == [10]

    again = ingest_file(home, db, big, SCHEMA)  # settles the dead run, then ingests
    assert (again.run.rows_ok, again.run.rows_quarantined) == (49_990, 10)
    failed = db.execute("SELECT status, error FROM ingest_runs WHERE id = 2").fetchone()
    assert failed[0] == "failed" and "interrupted" in failed[1]
    assert not list(home.root.rglob(".tmp-run-*"))
    assert audit.verify(db).ok
    actions = [a for (a,) in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert "ingest.interrupted" in actions
