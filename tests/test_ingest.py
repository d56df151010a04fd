"""Ingest end to end on real files: nothing lost, every row accounted for."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from appliance.errors import UnreadableFile
from appliance.home import DataHome
from appliance.ingest import ingest_file, parse_schema
from appliance.lake import file_sha256, read_dataset

SCHEMA = parse_schema(
    {
        "name": "tx",
        "primary_key": ["id"],
        "time_column": "day",
        "columns": [
            {"name": "id", "type": "int"},
            {"name": "day", "source": "Data", "type": "date", "format": "%d/%m/%Y"},
            {"name": "amount", "type": "float", "decimal": ",", "thousands": ".", "min": 0},
            {"name": "category", "allowed": ["Alimentação", "Serviços"]},
        ],
    },
    origin="tx.toml",
)
HEADER = "id,Data,amount,category\n"


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _quarantine(home: DataHome, run) -> pa.Table:  # type: ignore[no-untyped-def]
    return pq.read_table(home.inside(run.quarantine_path))


def test_valid_and_invalid_rows_are_split_and_accounted(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    csv = _write(
        tmp_path / "tx.csv",
        HEADER
        + '1,01/02/2024,"1.234,56",Alimentação\n'
        + "2,31/02/2024,10,Serviços\n"  # impossible date
        + "3,02/02/2024,-5,Serviços\n"  # below minimum
        + "1,03/02/2024,7,Serviços\n"  # duplicate key
        + "4,04/02/2024,7,Serviços,extra\n"  # malformed line
        + "5,05/02/2024,8,Outros\n"  # not allowed
        + "6,06/02/2024,9,Serviços\n",
    )
    result = ingest_file(home, db, csv, SCHEMA)
    run = result.run
    assert (run.status, run.rows_in, run.rows_ok, run.rows_quarantined) == ("ok", 7, 2, 5)
    lake = read_dataset(home, db, "tx")
    assert lake.column("id").to_pylist() == [1, 6]
    assert lake.column("amount").to_pylist() == [1234.56, 9.0]
    bad = _quarantine(home, run).to_pydict()
    assert sorted(bad["_column"], key=str) == sorted(
        ["day", "amount", "id", None, "category"], key=str
    )
    assert "4,04/02/2024,7,Serviços,extra" in bad["_raw_line"]
    assert any("duplicate primary key" in r for r in bad["_reason"])
    assert sum(q.rows for q in result.quarantine) == 5
    version = db.execute("SELECT time_min, time_max, rows FROM dataset_versions").fetchone()
    assert version == ("2024-02-01", "2024-02-06", 2)


def test_reingesting_the_same_file_is_a_no_op(home: DataHome, db: Database, tmp_path: Path) -> None:
    csv = _write(tmp_path / "tx.csv", HEADER + "1,01/02/2024,5,Serviços\n")
    first = ingest_file(home, db, csv, SCHEMA)
    again = ingest_file(home, db, csv, SCHEMA)
    assert again.unchanged and again.run.id == first.run.id
    assert db.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM dataset_versions").fetchone()[0] == 1


def test_keys_already_in_the_lake_are_quarantined(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    ingest_file(home, db, _write(tmp_path / "a.csv", HEADER + "1,01/02/2024,5,Serviços\n"), SCHEMA)
    second = ingest_file(
        home,
        db,
        _write(tmp_path / "b.csv", HEADER + "1,01/03/2024,6,Serviços\n2,01/03/2024,6,Serviços\n"),
        SCHEMA,
    )
    assert (second.run.rows_ok, second.run.rows_quarantined) == (1, 1)
    assert read_dataset(home, db, "tx").num_rows == 2


def test_a_header_only_file_is_a_valid_empty_run(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    run = ingest_file(home, db, _write(tmp_path / "h.csv", HEADER), SCHEMA).run
    assert (run.status, run.rows_in, run.version) == ("ok", 0, None)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        (b"id;Data;amount;category\n1;01/02/2024;5;x\n", "missing column"),
        (
            HEADER.replace("category", "category,surprise").encode() + b"1,01/02/2024,5,x,y\n",
            "unexpected column",
        ),
        (b"\xff\xfeid,Data\n", "header line is not valid utf-8"),
    ],
    ids=["empty", "binary", "wrong-delimiter", "extra-column", "bad-encoding"],
)
def test_unreadable_files_are_kept_intact_with_a_named_problem(
    home: DataHome, db: Database, tmp_path: Path, content: bytes, problem: str
) -> None:
    source = _write(tmp_path / "broken.csv", content)
    with pytest.raises(UnreadableFile) as caught:
        ingest_file(home, db, source, SCHEMA)
    message = str(caught.value)
    assert "broken.csv" in message and problem in message
    kept = home.inside(caught.value.kept_at or "")
    assert kept.read_bytes() == content
    run = db.execute("SELECT status, error FROM ingest_runs").fetchone()
    assert run[0] == "failed" and problem in run[1]
    assert not list(home.dir("lake").rglob("*.parquet"))


def test_a_file_cut_inside_a_quoted_field_keeps_the_cut_row(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    cut = _write(
        tmp_path / "cut.csv", HEADER + "1,01/02/2024,5,Serviços\n" + '2,01/02/2024,"5,Servi\n'
    )
    run = ingest_file(home, db, cut, SCHEMA).run
    assert (run.rows_in, run.rows_ok, run.rows_quarantined) == (2, 1, 1)
    assert '"5,Servi' in _quarantine(home, run).column("_raw_line").to_pylist()[0]


def test_a_damaged_parquet_file_is_refused(home: DataHome, db: Database, tmp_path: Path) -> None:
    good = tmp_path / "tx.parquet"
    pq.write_table(
        pa.table({"id": [1], "Data": ["01/02/2024"], "amount": ["5"], "category": ["Serviços"]}),
        good,
    )
    truncated = _write(tmp_path / "cut.parquet", good.read_bytes()[:-20])
    with pytest.raises(UnreadableFile, match=r"cut\.parquet"):
        ingest_file(home, db, truncated, SCHEMA)


def test_parquet_with_typed_columns_is_validated_too(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "tx.parquet"
    table = pa.table(
        {
            "id": [1, 2, 2],
            "Data": ["01/02/2024", "02/02/2024", "03/02/2024"],
            "amount": [5.0, -1.0, 3.0],
            "category": ["Serviços"] * 3,
        }
    )
    pq.write_table(table, path)
    run = ingest_file(home, db, path, SCHEMA).run
    # the first id 2 fails its minimum, so the second id 2 is not a duplicate of a lake row
    assert (run.rows_in, run.rows_ok, run.rows_quarantined) == (3, 2, 1)
    assert read_dataset(home, db, "tx").column("amount").to_pylist() == [5.0, 3.0]


def test_non_utf8_rows_are_quarantined_and_declared_encodings_are_read(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    mixed = _write(
        tmp_path / "mixed.csv",
        HEADER.encode()
        + "1,01/02/2024,5,Serviços\n".encode()
        + "2,01/02/2024,5,Servi\xe7os\n".encode("latin-1"),
    )
    run = ingest_file(home, db, mixed, SCHEMA).run
    assert (run.rows_ok, run.rows_quarantined) == (1, 1)
    latin = parse_schema(
        {"name": "latin", "encoding": "latin-1", "columns": [{"name": "category"}]}
    )
    path = _write(tmp_path / "latin.csv", "category\nServiços\n".encode("latin-1"))
    assert ingest_file(home, db, path, latin).run.rows_ok == 1
    assert read_dataset(home, db, "latin").column("category").to_pylist() == ["Serviços"]


def test_many_batches_stream_through(
    home: DataHome, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import appliance.ingest.reader as reader

    monkeypatch.setattr(reader, "BLOCK_SIZE", 4096)
    lines = [f"{i},{1 + i % 28:02d}/01/2024,{i % 50},Serviços\n" for i in range(5000)]
    lines[1234] = "1234,xx/01/2024,1,Serviços\n"
    lines.append("17,01/01/2024,1,Serviços\n")  # duplicate across batches
    progress: list[int] = []
    run = ingest_file(
        home,
        db,
        _write(tmp_path / "big.csv", HEADER + "".join(lines)),
        SCHEMA,
        progress=lambda done, total: progress.append(done),
    ).run
    assert (run.rows_in, run.rows_ok, run.rows_quarantined) == (5001, 4999, 2)
    assert len(progress) > 10 and progress == sorted(progress)
    quarantined = _quarantine(home, run).column("_record").to_pylist()
    assert sorted(quarantined) == [1235, 5001]


def test_the_lake_file_is_named_by_its_content_hash(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    run = ingest_file(
        home, db, _write(tmp_path / "tx.csv", HEADER + "1,01/02/2024,5,Serviços\n"), SCHEMA
    ).run
    path = home.inside(db.execute("SELECT path FROM dataset_versions").fetchone()[0])
    assert file_sha256(path) == run.version and path.name.startswith(run.version[:24])


cell = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(
        ["1", "-3", "1.234,5", "31/02/2024", "01/01/2024", "Serviços", '"', ",", "\n", "NA"]
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(cell, min_size=1, max_size=6), max_size=25))
def test_every_generated_row_is_accounted_for(
    home: DataHome, db: Database, tmp_path: Path, rows: list[list[str]]
) -> None:
    import csv
    import io
    import uuid

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # quotes any field holding CR or LF
    writer.writerow(["id", "Data", "amount", "category"])
    writer.writerows(rows)
    path = _write(tmp_path / f"{uuid.uuid4().hex}.csv", buffer.getvalue())
    try:
        run = ingest_file(home, db, path, SCHEMA).run
    except UnreadableFile:
        return  # whole-file refusal is allowed: the file is kept intact (tested above)
    assert run.rows_in == run.rows_ok + run.rows_quarantined
    assert run.rows_in == len(rows)


def test_a_headerless_space_delimited_file_reads_fields_in_declared_order(
    home: DataHome, db: Database, tmp_path: Path
) -> None:
    """The shape of the UCI German credit data: no header, one space between fields."""
    schema = parse_schema(
        {
            "name": "german",
            "header": False,
            "delimiter": " ",
            "columns": [
                {"name": "checking_status", "allowed": ["A11", "A12", "A13", "A14"]},
                {"name": "duration_months", "type": "int", "min": 1},
                {"name": "credit_amount", "type": "float"},
                {"name": "good_bad", "type": "int", "min": 1, "max": 2},
            ],
        }
    )
    path = _write(tmp_path / "german.data", "A11 6 1169 1\nA12 48 5951 2\nA99 12 2096 1\n")
    run = ingest_file(home, db, path, schema).run
    assert (run.rows_in, run.rows_ok, run.rows_quarantined) == (3, 2, 1)
    assert read_dataset(home, db, "german").column("duration_months").to_pylist() == [6, 48]


def test_a_full_disk_fails_the_run_cleanly_and_keeps_the_lake(
    home: DataHome, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from appliance.errors import IngestError
    from appliance.ingest.parts import ParquetPart

    ingest_file(home, db, _write(tmp_path / "a.csv", HEADER + "1,01/02/2024,5,Serviços\n"), SCHEMA)
    before = sorted(home.dir("lake").rglob("*"))

    def full(self: ParquetPart, batch: object) -> None:  # an injected writer: no tmpfs here
        raise OSError(errno.ENOSPC, "No space left on device", str(self.tmp_path))

    monkeypatch.setattr(ParquetPart, "write", full)
    with pytest.raises(IngestError, match="No space left on device"):
        ingest_file(
            home, db, _write(tmp_path / "b.csv", HEADER + "2,01/02/2024,5,Serviços\n"), SCHEMA
        )
    assert sorted(home.dir("lake").rglob("*")) == before
    assert db.execute("SELECT status FROM ingest_runs ORDER BY id").fetchall() == [
        ("ok",),
        ("failed",),
    ]
    assert read_dataset(home, db, "tx").column("id").to_pylist() == [1]
    from appliance import audit

    assert audit.verify(db).ok
