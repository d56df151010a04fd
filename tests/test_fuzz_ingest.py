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
    @settings(max_examples=45, deadline=None, database=None,
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


# A UTF-8 file whose row has both the wrong field count and a byte that is not UTF-8 makes
# pyarrow fail inside the malformed-row handler (see the xfail test below): the whole file
# is then refused (kept intact, named), and pyarrow reports the handler's error as
# unraisable. That refusal is accepted here; the test below pins the bug.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "appliance/ingest/reader.py: pyarrow decodes an invalid row as UTF-8 before calling the "
    "handler, so a short or long row holding a non-UTF-8 byte refuses the whole file"))
def test_a_malformed_row_with_a_non_utf8_byte_is_quarantined_alone(tmp_path: Path) -> None:
    data = b"id,amount,day,kind,code,flag,device\n1,2,,,,,\n2,caf\xe9,surplus,,,,,\n3,4,,,,,\n"
    outcome = ingest_accounted(tmp_path, data, "plain")
    assert outcome == {"rows_in": 3, "rows_ok": 2}


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "appliance/ingest/reader.py: pyarrow cannot skip a header line that has no line end, "
    "so a header-only file without a final newline is refused instead of an empty run"))
def test_a_header_only_file_without_a_final_newline_is_an_empty_run(tmp_path: Path) -> None:
    outcome = ingest_accounted(tmp_path, b"id,amount,day,kind,code,flag,device", "plain")
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
