"""Fuzzing ingest with generated files of every kind of damage: broken quoting, bytes in
the wrong encoding, wrong field counts, extreme numbers, separators inside values,
huge fields, stray line endings. Through the real ingest into a real home, every
input row ends in the lake or in quarantine (``rows_in = rows_ok + rows_quarantined``,
checked against the Parquet files themselves, not only the run record), and a file
that cannot be read at all is refused with an ApplianceError naming it, never a
traceback."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import audit
from appliance.errors import ApplianceError, UnreadableFile
from appliance.home import DataHome
from appliance.ingest import ingest_file, parse_schema
from appliance.store.db import connect

COLUMNS = [
    {"name": "id", "type": "int", "required": True, "min": 0},
    {"name": "amount", "type": "float", "min": -1e12, "max": 1e12},
    {"name": "day", "type": "date", "min": "2000-01-01"},
    {"name": "kind", "type": "string", "allowed": ["loan", "card", "Serviços"]},
    {"name": "code", "type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$", "max_length": 5},
    {"name": "flag", "type": "bool"},
    {"name": "device", "type": "dict", "item_separator": ";", "key_separator": ":",
     "fields": [{"name": "os", "type": "string"}, {"name": "trusted", "type": "bool"}]},
]  # fmt: skip
SCHEMAS = {
    "plain": parse_schema({"name": "fuzz_plain", "format": "csv", "delimiter": ",",
                           "encoding": "utf-8", "columns": COLUMNS}),
    "latin": parse_schema({
        "name": "fuzz_latin", "format": "csv", "delimiter": ";", "encoding": "latin-1",
        "multiline": False, "primary_key": ["id"],
        "columns": [{**c, "decimal": ",", "thousands": "."} if c["type"] == "float" else
                    {**c, "format": "%d/%m/%Y"} if c["type"] == "date" else
                    {**c, "item_separator": "|"} if c["type"] == "dict" else c
                    for c in COLUMNS],
    }),
}  # fmt: skip

GOOD = {
    "id": st.integers(0, 10**6).map(str),
    "amount": st.sampled_from(["0", "12.5", "-3", "1e3", "999999999999"]),
    "day": st.sampled_from(["2024-02-29", "2001-01-01", "29/02/2024", "01/12/2001"]),
    "kind": st.sampled_from(["loan", "card", "Serviços", "Servic\u0327os", " loan "]),
    "code": st.sampled_from(["AB123", "ZZ999"]),
    "flag": st.sampled_from(["true", "no", "Y", "0"]),
    "device": st.sampled_from(["os:ios;trusted:yes", "os:web", ""]),
}
GOOD_LATIN = {**GOOD,  # what the latin-1 schema reads: d/m/Y dates, 1.234,5 amounts
              "amount": st.sampled_from(["0", "12,5", "-3", "1.234,56", "999.999.999"]),
              "day": st.sampled_from(["29/02/2024", "01/12/2001"]),
              "device": st.sampled_from(["os:ios|trusted:yes", "os:android|trusted:no", ""])}
EXTREME = st.sampled_from([
    "1e308", "-1e308", "1e309", "-0", "NaN", "nan", "inf", "-Infinity", "1" * 400,
    "9223372036854775808", "-9223372036854775809", "0x10", "1_000", "1.234,56", "1,234.56",
    "4.9e-324", "١٢٣", "２０２４-01-01", "2024-13-45", "0000-00-00", "99999-01-01",
])  # fmt: skip
DAMAGE = st.sampled_from([
    '"', '""', '"unterminated', 'a"b', '"quoted, with comma"', '"line\nbreak"', "\r", "\n",
    ",", ";", ",,,", ";;", "\t", "\x00", "\ufeff", "\u2028", "\x1a", "NA", "null", "",
])  # fmt: skip
BAD_BYTES = st.sampled_from([b"\xff\xfe", b"\xc3", b"\xe9t\xe9", b"\x80\x81", b"\xed\xa0\x80"])


@st.composite
def cell(draw: st.DrawFn, column: str, good: dict[str, Any]) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice <= 4:
        return draw(good[column]).encode()
    if choice == 5:
        return draw(EXTREME).encode()
    if choice == 6:
        return draw(DAMAGE).encode()
    if choice == 7:
        return draw(good[column]).encode() + draw(BAD_BYTES)
    if choice == 8:
        return draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([b"x" * 70_000, b"9" * 5_000, b"A" * 300_000]))


@st.composite
def csv_file(draw: st.DrawFn, delimiter: bytes, good: dict[str, Any]
             ) -> tuple[bytes, int | None]:  # fmt: skip
    """A damaged CSV; with the number of data lines where the damage cannot change how
    lines split into rows (no quotes, no line breaks inside values), else None."""
    names = [c["name"] for c in COLUMNS]
    header = draw(st.sampled_from([names] * 6 + [names[::-1], names[:-1], [*names, "extra"]]))
    lines = [delimiter.join(n.encode() for n in header)]
    count = draw(st.integers(0, 12))
    for _ in range(count):
        shape = draw(st.integers(0, 9))
        if shape <= 3:  # an undamaged row
            cells = [draw(good[n]).encode() for n in names]
        else:
            cells = [draw(cell(n, good)) for n in names]
        if shape == 4:
            cells = cells[: draw(st.integers(1, len(cells) - 1))]  # too few fields
        elif shape == 5:
            cells += [b"surplus"] * draw(st.integers(1, 3))  # too many
        lines.append(delimiter.join(cells))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = ending.join(lines) + draw(st.sampled_from([ending, b""]))
    if draw(st.booleans()):
        body = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b""])) + body
    data = b"".join(lines[1:])
    clean_split = not any(ch in data for ch in (b'"', b"\r", b"\n", b"\x00")) and all(
        line.strip(b" \t" + delimiter) for line in lines[1:]
    )
    return body, (count if clean_split else None)


def ingest_accounted(root: Path, data: bytes, schema_name: str) -> dict[str, Any]:
    """Ingest ``data`` into a fresh home; check the accounting against the files."""
    home = DataHome(root / "home")
    home.layout()
    db = connect(home.db_path)
    schema = SCHEMAS[schema_name]
    path = root / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(data)
    try:
        try:
            run = ingest_file(home, db, path, schema, actor="fuzz").run
        except UnreadableFile as exc:
            assert exc.kept_at and home.inside(exc.kept_at).read_bytes() == data
            assert path.name in str(exc) or str(path) in str(exc), str(exc)
            return {"refused": str(exc)}
        assert run.rows_in == run.rows_ok + run.rows_quarantined
        lake = 0
        if run.version is not None:
            [(stored,)] = db.execute("SELECT path FROM dataset_versions WHERE version = ?",
                                     [run.version]).fetchall()  # fmt: skip
            lake = pq.read_metadata(home.inside(stored)).num_rows
        quarantined = (pq.read_metadata(home.inside(run.quarantine_path)).num_rows
                       if run.quarantine_path else 0)  # fmt: skip
        assert (lake, quarantined) == (run.rows_ok, run.rows_quarantined)
        assert not list(home.root.rglob(".tmp-run-*"))
        assert audit.verify(db).ok
        return {"rows_in": run.rows_in, "rows_ok": run.rows_ok}
    finally:
        db.close()


def _fuzz(schema_name: str, delimiter: bytes, seen: list[dict[str, Any]]) -> Callable[[], None]:
    @settings(max_examples=45, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(generated=csv_file(delimiter, GOOD_LATIN if schema_name == "latin" else GOOD))
    def one(generated: tuple[bytes, int | None]) -> None:
        data, lines = generated
        with tempfile.TemporaryDirectory(prefix="fuzz-ingest-") as tmp:
            try:
                outcome = ingest_accounted(Path(tmp), data, schema_name)
            except ApplianceError as exc:  # refused as a whole, with words: not a traceback
                assert str(exc).strip()
                outcome = {"error": str(exc)}
        if lines is not None and "rows_in" in outcome:
            assert outcome["rows_in"] == lines, outcome
        seen.append(outcome)

    return one


@pytest.mark.slow
@pytest.mark.parametrize(("schema_name", "delimiter"), [("plain", b","), ("latin", b";")])
def test_every_row_of_a_damaged_file_is_accounted_for(schema_name: str, delimiter: bytes) -> None:
    seen: list[dict[str, Any]] = []
    _fuzz(schema_name, delimiter, seen)()
    print(f"{schema_name}: {len(seen)} files, "
          f"{sum('rows_in' in s for s in seen)} ingested, "
          f"{sum('rows_in' not in s for s in seen)} refused whole")  # fmt: skip
    assert sum("rows_in" in s for s in seen) >= 3  # not every file is refused whole
    assert any(s.get("rows_ok") for s in seen)


@pytest.mark.parametrize("bad", [b"\xe9", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_a_malformed_row_with_a_non_utf8_byte_is_quarantined_alone(
    tmp_path: Path, bad: bytes, bom: bytes
) -> None:
    """pyarrow decodes a row with the wrong field count as UTF-8 before handing it over;
    one such row holding a byte that is not UTF-8 must not refuse the whole file."""
    data = (bom + b"id,amount,day,kind,code,flag,device\n1,2,,Servi\xc3\xa7os,,,\n"
            b"2,caf" + bad + b",surplus,,,,,\n3,4,,,,,\n4,5,,card,AB12" + bad + b",,\n")
    outcome = ingest_accounted(tmp_path, data, "plain")
    assert outcome == {"rows_in": 4, "rows_ok": 2}
    home = DataHome(tmp_path / "home")
    lake = pq.read_table(next(home.dir("lake").rglob("*.parquet")))
    assert lake.column("id").to_pylist() == [1, 3]
    assert lake.column("kind").to_pylist() == ["Serviços", None]  # UTF-8 text kept as is
    quarantine = pq.read_table(next(home.dir("quarantine").rglob("*.parquet"))).to_pylist()
    by_reason = {row["_reason"]: row for row in quarantine}
    malformed = by_reason["expected 7 fields, found 8"]  # the row itself, its bytes escaped
    assert malformed["_raw_line"] == "2,caf" + bad.decode("utf-8", "backslashreplace") + (
        ",surplus,,,,,")
    [broken] = [row for row in quarantine if row["_column"] == "code"]
    assert broken["_record"] == 3 and broken["id"] == "4"  # the 3rd parsed row: id 4
    assert "not valid UTF-8" in broken["_reason"]
    assert broken["code"] == "AB12" + bad.decode("utf-8", "backslashreplace")


@settings(max_examples=200, deadline=None, database=None)
@given(
    pieces=st.lists(st.text(max_size=6).map(lambda t: t.encode("utf-8", "surrogatepass"))
                    | BAD_BYTES | st.binary(max_size=3), max_size=12),
    block=st.integers(1, 9),
)  # fmt: skip
def test_the_utf8_check_agrees_with_python_across_block_boundaries(
    pieces: list[bytes], block: int
) -> None:
    """The reader checks a file a block at a time; a character split by a block boundary
    is still one character, and a bad byte anywhere is found."""
    from appliance.ingest.reader import _is_utf8

    data = b"".join(pieces)
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        handle.write(data)
        handle.flush()
        assert _is_utf8(Path(handle.name), block_size=block) is expected, data


@pytest.mark.parametrize("data", [b"id,amount,day,kind,code,flag,device",
                                  b"\xef\xbb\xbfid,amount,day,kind,code,flag,device\r\n",
                                  b"id,amount,day,kind,code,flag,device\n"])  # fmt: skip
def test_a_header_only_file_is_an_empty_run(tmp_path: Path, data: bytes) -> None:
    outcome = ingest_accounted(tmp_path, data, "plain")
    assert outcome == {"rows_in": 0, "rows_ok": 0}


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "empty"),
        (b"\x00" * 64, "binary"),
        (b"id,amount\n" + b'1,"' + b"x" * 3_000_000 + b"\n", "unterminated quote, huge field"),
        (b"id,amount,day,kind,code,flag,device\n" + b"7," + b"9" * 3_000_000 + b",,,,,\n",
         "one field over the reader's block"),
        ("id,amount,day,kind,code,flag,device\n1,2,2024-01-01,loan,AB123,y,\n".encode("utf-16"),
         "utf-16"),
    ],
)  # fmt: skip
def test_files_that_cannot_be_read_are_refused_in_words(
    data: bytes, what: str, run_cli: Any, home: DataHome, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.csv"
    path.write_bytes(data)
    schema_file = tmp_path / "fuzz.toml"
    schema_file.write_text(_toml(SCHEMAS["plain"]), encoding="utf-8")
    outcome = run_cli("ingest", str(path), "--schema", str(schema_file))
    assert "Traceback" not in outcome.stderr + outcome.stdout, what
    if outcome.exit_code == 0:  # read after all: then every row is accounted for
        db = connect(home.db_path)
        row = db.execute("SELECT rows_in, rows_ok, rows_quarantined FROM ingest_runs").fetchone()
        db.close()
        assert row[0] == row[1] + row[2], what
    else:
        assert outcome.exit_code == 5 and "damaged.csv" in outcome.stderr, (what, outcome)


def _toml(schema: Any) -> str:
    """The plain schema as the TOML an analyst would write."""
    import json

    def value(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    lines = [f"name = {value(schema.name)}", 'format = "csv"', 'delimiter = ","',
             'encoding = "utf-8"']  # fmt: skip
    for column in COLUMNS:
        lines.append("[[columns]]")
        for key, v in column.items():
            if key == "fields":
                items = ", ".join("{ " + ", ".join(f"{k} = {value(x)}" for k, x in f.items())
                                  + " }" for f in v)  # fmt: skip
                lines.append(f"fields = [{items}]")
            else:
                lines.append(f"{key} = {value(v)}")
    return "\n".join(lines) + "\n"
