"""`appliance publish` on real homes: real Hyper extracts read back through Hyper, the
Parquet data set, high-water marks, schema versions, atomic swaps and crashes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlite_utils import Database
from tableauhyperapi import Connection, CreateMode

from appliance.home import DataHome
from connectors import hyper
from connectors.catalogue import TABLES, table_named
from connectors.columns import Column
from connectors.dataset import DataSet
from connectors.errors import PublishError
from connectors.marks import extract_records, table_marks
from connectors.publisher import data_folder, publish
from scheduler.catalogue import CATALOGUE
from scheduler.job import JobContext
from tests.connectors_data import add_outcomes, add_predictions, fill_store

REPO = Path(__file__).resolve().parents[1]


def read_hyper(path: Path, query: str) -> list[list[object]]:
    with hyper.hyper_process() as process, Connection(process.endpoint, str(path),
                                                      CreateMode.NONE) as conn:  # fmt: skip
        return [list(r) for r in conn.execute_list_query(query)]


def data_set_rows(home: DataHome, table: str) -> int:
    return sum(b.num_rows for b in DataSet.open(data_folder(home)).batches(table))


def test_full_then_incremental_publish_matches_the_store(home: DataHome, db: Database) -> None:
    fill_store(db, 40)
    first = publish(home, db)
    subjects = {s.subject: s for s in first.subjects}
    assert set(subjects) == {"scores", "models", "operations", "monitoring"}
    assert all(s.mode == "full" and s.version == 1 for s in first.subjects)
    publish_dir = home.dir("publish")
    assert sorted(p.name for p in publish_dir.glob("*.hyper")) == [
        "models.hyper", "monitoring.hyper", "operations.hyper", "scores.hyper"]
    scores = publish_dir / "scores.hyper"
    stored = db.execute("SELECT count(*), sum(probability) FROM predictions").fetchone()
    query = 'SELECT count(*), sum(probability) FROM "Extract"."scores"'
    count, total = read_hyper(scores, query)[0]
    assert count == stored[0] == 48 and total == pytest.approx(stored[1])
    # typed columns: timestamps, dates, booleans, doubles
    row = read_hyper(scores, 'SELECT scored_at, scored_date, served, outcome, reason_1_text,'
                             ' region FROM "Extract"."scores" WHERE request_id = \'r-1\'')
    assert str(row[0][0]) == "2025-01-01 00:01:00" and str(row[0][1]) == "2025-01-01"
    assert row[0][2:] == [True, 1, "Reason number 1", "south"]
    assert not list(Path.cwd().glob("hyperd*.log")) and not list(publish_dir.glob("*.log"))

    add_predictions(db, 7, start=100)
    add_outcomes(db, [{"request_id": "r-5", "outcome": 1, "observed_at": "2025-03-01"}])
    second = publish(home, db)
    scores_report = next(s for s in second.subjects if s.subject == "scores")
    assert scores_report.mode == "incremental" and scores_report.version == 1
    assert scores_report.tables[0].rows_added == 9 and scores_report.tables[0].rows == 57
    assert read_hyper(scores, 'SELECT outcome FROM "Extract"."scores"'
                              " WHERE request_id = 'r-5'") == [[1], [1]]  # older rows updated
    assert data_set_rows(home, "scores") == 57
    marks = table_marks(db)
    assert marks["scores"].high_water == 57 and marks["scores"].rows == 57
    assert extract_records(db)["scores"].mode == "incremental"

    third = publish(home, db)  # nothing new: nothing appended, no duplicates
    assert next(s for s in third.subjects if s.subject == "scores").rows_added == 4  # outcomes
    assert read_hyper(scores, 'SELECT count(*), count(DISTINCT prediction_id)'
                              ' FROM "Extract"."scores"') == [[57, 57]]
    full = publish(home, db, full=True)
    assert all(s.mode == "full" and s.version == 1 for s in full.subjects)
    audits = db.execute("SELECT count(*) FROM audit_log WHERE action = 'publish'").fetchone()[0]
    assert audits == 16


def test_a_new_column_is_a_new_extract_version(home: DataHome, db: Database) -> None:
    fill_store(db, 5)
    publish(home, db)
    job_runs = table_named("job_runs")
    widened = dataclasses.replace(
        job_runs,
        columns=(*job_runs.columns, Column("pid", "bigint", "Worker process id")),
        sql=job_runs.sql.replace("summary\nFROM", "summary, pid\nFROM")  # type: ignore[union-attr]
    )
    tables = [widened if t.name == "job_runs" else t for t in TABLES]
    report = publish(home, db, tables=tables)
    operations = next(s for s in report.subjects if s.subject == "operations")
    assert operations.version == 2 and "columns changed in job_runs" in operations.reason
    assert next(s for s in report.subjects if s.subject == "scores").version == 1
    path = home.dir("publish") / "operations.hyper"
    assert read_hyper(path, 'SELECT count(pid), count(*) FROM "Extract"."job_runs"') == [[0, 6]]
    assert read_hyper(path, 'SELECT DISTINCT extract_version FROM "Extract"."extract_info"'
                      ) == [[2]]  # fmt: skip
    assert DataSet.open(data_folder(home)).tables["job_runs"].version == 2


def test_a_cut_off_publish_is_noticed_and_rebuilt(home: DataHome, db: Database) -> None:
    fill_store(db, 5)
    publish(home, db)
    add_predictions(db, 3, start=50)
    db.execute("DELETE FROM publish_marks WHERE table_name = 'outcomes'")  # as if cut off
    report = publish(home, db)
    scores = next(s for s in report.subjects if s.subject == "scores")
    assert scores.mode == "full" and "new table(s) outcomes" in scores.reason
    assert scores.tables[0].rows == 10
    # the store's mark moved on without the extract (a crash after the record): rebuilt too
    db.execute("UPDATE publish_marks SET high_water = 999 WHERE table_name = 'scores'")
    again = next(s for s in publish(home, db).subjects if s.subject == "scores")
    assert again.mode == "full" and "does not match the store's record" in again.reason


def test_a_bad_row_fails_the_publish_and_leaves_the_old_extract(
    home: DataHome, db: Database
) -> None:
    fill_store(db, 5)
    publish(home, db)
    path = home.dir("publish") / "operations.hyper"
    before = path.read_bytes()
    db.execute("INSERT INTO job_runs (job, kind, trigger, started_at, ended_at, status)"
               " VALUES ('x', 'x', 'manual', 'yesterday-ish', 'later', 'ok')")
    with pytest.raises(PublishError, match="job_runs, column started_at"):
        publish(home, db)
    assert path.read_bytes() == before
    assert not list(home.dir("publish").glob(".*.tmp"))


def test_a_reader_holding_the_old_extract_keeps_reading_it(home: DataHome, db: Database) -> None:
    fill_store(db, 10)
    publish(home, db)
    path = home.dir("publish") / "scores.hyper"
    with hyper.hyper_process() as process, Connection(process.endpoint, str(path),
                                                      CreateMode.NONE) as reader:  # fmt: skip
        query = 'SELECT count(*) FROM "Extract"."scores"'
        assert reader.execute_scalar_query(query) == 12
        add_predictions(db, 20, start=30)
        publish(home, db)
        assert reader.execute_scalar_query(query) == 12  # still the old file
    assert read_hyper(path, query) == [[36]]


def test_incremental_reads_only_new_rows_through_the_key(home: DataHome, db: Database) -> None:
    from connectors.rows import read_batches

    fill_store(db, 30)
    scores = table_named("scores")
    batches = list(read_batches(db, scores, after=10, upto=20, batch_rows=4))
    ids = [i for b in batches for i in b.column("prediction_id").to_pylist()]
    assert ids == list(range(11, 21)) and max(b.num_rows for b in batches) == 4
    plan = " ".join(str(r) for r in db.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM ({scores.sql}) WHERE prediction_id > 1").fetchall())
    assert "SCAN p" not in plan  # the key reaches the prediction log's rowid


def test_the_publish_job_and_the_cli(home: DataHome, db: Database,
                                     run_cli: Callable[..., object]) -> None:  # fmt: skip
    from datetime import UTC, datetime

    fill_store(db, 8)
    lines: list[str] = []
    ctx = JobContext(home, db, {}, datetime.now(UTC), actor="test", progress=lines.append)
    result = CATALOGUE["publish"].load()(ctx)
    assert result.rows > 0 and "publish/scores.hyper" in result.artifacts
    assert "scores v1 full" in result.summary and any("read back" in line for line in lines)
    out = run_cli("publish")
    assert out.exit_code == 0, out.stderr  # type: ignore[attr-defined]
    assert "scores.hyper: version 1, incremental, +2 rows" in out.stdout  # type: ignore[attr-defined]
    assert "read back and checked" in out.stderr  # type: ignore[attr-defined]
    bad = run_cli("publish", "--to", "mysql://nope")
    assert bad.exit_code == 13 and "must be a PostgreSQL URL" in bad.stderr  # type: ignore[attr-defined]
    assert len(bad.stderr.strip().splitlines()) == 1  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="full must be a bool"):
        CATALOGUE["publish"].load()(JobContext(home, db, {"full": "yes"}, datetime.now(UTC)))


@pytest.mark.slow
def test_kill_9_mid_publish_leaves_the_previous_extract_intact(home: DataHome,
                                                              db: Database) -> None:  # fmt: skip
    fill_store(db, 10)
    publish(home, db)
    path = home.dir("publish") / "scores.hyper"
    before = read_hyper(path, 'SELECT count(*) FROM "Extract"."scores"')
    add_predictions(db, 30_000, start=1000)
    code = ("import sys; from appliance.home import DataHome; from appliance.store.db import"
            " connect; from connectors.publisher import publish; h = DataHome(sys.argv[1]);"
            " publish(h, connect(h.db_path), full=True, progress=lambda m: print(m, flush=True))")
    child = subprocess.Popen([sys.executable, "-c", code, str(home.root)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline()  # "scores: full publish ..." : it is writing now
    assert line.startswith("scores: full publish")
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert read_hyper(path, 'SELECT count(*) FROM "Extract"."scores"') == before
    report = publish(home, db)  # the next publish finishes the job
    assert next(s for s in report.subjects if s.subject == "scores").tables[0].rows == 36_012
    assert not list(home.dir("publish").glob(".*.tmp"))


def test_large_tables_are_written_and_loaded_in_parts(
    home: DataHome, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of PART_ROWS rows, each COPYed while the next is written: the extract and the
    data set hold every row once, appends add parts, and a rebuild starts over."""
    import functools

    import connectors.dataset
    import connectors.publisher
    from connectors.rows import read_batches

    monkeypatch.setattr(connectors.dataset, "PART_ROWS", 8)
    monkeypatch.setattr(connectors.publisher, "read_batches",
                        functools.partial(read_batches, batch_rows=3))  # fmt: skip
    fill_store(db, 40)
    publish(home, db)
    path = home.dir("publish") / "scores.hyper"
    query = ('SELECT count(*), count(DISTINCT prediction_id), sum(probability)'
             ' FROM "Extract"."scores"')
    stored = db.execute("SELECT count(*), sum(probability) FROM predictions").fetchone()
    count, distinct, total = read_hyper(path, query)[0]
    assert count == distinct == stored[0] == 48 and total == pytest.approx(stored[1])
    entry = DataSet.open(data_folder(home)).tables["scores"]
    assert len(entry.files) == 6 and entry.rows == 48  # 16 batches of 3, parts of 9 rows
    assert data_set_rows(home, "scores") == 48
    add_predictions(db, 10, start=100)
    publish(home, db)
    assert read_hyper(path, query)[0][:2] == [60, 60]
    assert len(DataSet.open(data_folder(home)).tables["scores"].files) == 8
    assert data_set_rows(home, "scores") == 60
    publish(home, db, full=True)
    assert len(DataSet.open(data_folder(home)).tables["scores"].files) == 7
    assert read_hyper(path, query)[0][:2] == [60, 60]


def test_write_parts_yields_each_part_when_complete(tmp_path: Path) -> None:
    import pyarrow as pa

    dataset = DataSet(tmp_path)
    schema = pa.schema([pa.field("n", pa.int64(), False)])
    batches = [pa.record_batch([pa.array(range(i, i + 2))], schema=schema) for i in range(0, 10, 2)]
    seen = []
    for part, rows in dataset.write_parts("t", 1, iter(batches), schema, part_rows=4):
        assert (tmp_path / part).is_file()  # complete and readable before the next is written
        seen.append((part, rows, pa.ipc.open_file(str(tmp_path / part)).read_all().num_rows))
    assert [(r, n) for _, r, n in seen] == [(4, 4), (4, 4), (2, 2)]
    assert [p for p, _, _ in seen] == ["t/v1-000001.arrow", "t/v1-000002.arrow",
                                       "t/v1-000003.arrow"]  # fmt: skip
    ((empty, rows),) = list(dataset.write_parts("t", 1, iter(()), schema))
    assert rows == 0 and pa.ipc.open_file(str(tmp_path / empty)).schema == schema
    with pytest.raises(ValueError, match="part_rows"):
        list(dataset.write_parts("t", 1, iter(batches), schema, part_rows=0))


def test_a_copy_queue_loads_every_part_and_reports_the_first_failure(
    tmp_path: Path, db: Database
) -> None:
    import pyarrow as pa

    from connectors.rows import read_batches

    fill_store(db, 5)
    table = table_named("job_runs")
    stored = db.execute("SELECT count(*) FROM job_runs").fetchone()[0]
    dataset = DataSet(tmp_path / "data")
    with hyper.hyper_process() as process, hyper.open_extract(
        process, tmp_path / "x.hyper", create=True
    ) as conn:
        hyper.run(conn, [hyper.create_table_sql(table)], what="test")
        parts = 0
        with hyper.CopyQueue(conn, table.name, what="test") as copies:
            batches = read_batches(db, table, batch_rows=2)
            for part, _ in dataset.write_parts(table.name, 1, batches, table.arrow_schema(),
                                               part_rows=2):  # fmt: skip
                copies.submit((dataset.root / part).resolve())
                parts += 1
        assert parts == -(-stored // 2) > 1 and hyper.totals(conn, table)[0] == stored
        wrong = tmp_path / "wrong.arrow"
        schema = pa.schema([pa.field("x", pa.string())])
        with pa.OSFile(str(wrong), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            writer.write_batch(pa.record_batch([pa.array(["a"])], schema=schema))
        with pytest.raises(PublishError, match="test: Hyper refused it"), \
                hyper.CopyQueue(conn, table.name, what="test") as copies:  # fmt: skip
            copies.submit(wrong)
            time.sleep(0.5)
            copies.submit(wrong)  # the first failure is raised here at the latest
        assert hyper.totals(conn, table)[0] == stored  # nothing half-loaded
