"""`appliance sources`: schema inference rules, the TOML draft, and the commands."""

from __future__ import annotations

import csv
import io
import itertools
import re
import tomllib
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from appliance.home import DataHome
from appliance.ingest import SourceSchema, ingest_file, parse_schema
from appliance.ingest.infer import (
    Decoded,
    Dialect,
    InferError,
    decode_sample,
    guess_column,
    inbox_pattern,
    infer_schema,
    parse_records,
    snake_names,
    sniff_dialect,
)
from appliance.ingest.infer.render import render_draft, toml_comment, toml_value
from appliance.lake import read_dataset
from tests.conftest import CliOutcome

RunCli = Callable[..., CliOutcome]


def _draft(text: str, name: str = "t", file_name: str = "t.csv") -> tuple[str, SourceSchema]:
    """Infer and render a draft from CSV text; returns the TOML and the parsed schema."""
    decoded = decode_sample(text.encode("utf-8"))
    dialect = sniff_dialect(decoded.text)
    draft = infer_schema(
        name, file_name, decoded, dialect, parse_records(decoded.text, dialect, 10_000, True)
    )
    toml = render_draft(draft)
    return toml, parse_schema(tomllib.loads(toml))


# -- one rule at a time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "decimal", "thousands"),
    [
        (["1.234,56", "12,5", "3"], ",", "."),  # Brazilian
        (["R$ 1.234,56", "R$ 12,50"], ",", "."),
        (["1,234.56", "12.5", "3"], ".", ","),
        (["3,5"], ",", "."),
        (["12.5", "3", "-0.25", "1e3"], ".", None),
    ],
)
def test_float_separators_come_from_the_values(
    values: list[str], decimal: str, thousands: str | None
) -> None:
    guess = guess_column(values)
    assert (guess.type, guess.decimal, guess.thousands) == ("float", decimal, thousands)


def test_ints_with_and_without_thousands() -> None:
    assert guess_column(["1", "-20", "300"]).type == "int"
    grouped = guess_column(["1.234.567", "12", "4.000"])
    assert (grouped.type, grouped.thousands, grouped.decimal) == ("int", ".", ",")
    assert guess_column(["0", "1", "1"]).type == "int"  # a 0/1 column is not bool
    assert guess_column(["00123", "00456"]).type == "string"  # codes keep their zeros


def test_a_number_read_two_ways_is_flagged_ambiguous() -> None:
    guess = guess_column(["1.234", "12"])
    assert guess.type == "int" and any("ambiguous" in n for n in guess.notes)
    assert not guess_column(["1.234,56", "12"]).notes


def test_affixes_are_stripped_only_when_every_value_has_them() -> None:
    assert guess_column(["R$ 12,50", "R$ 3,00"]).strip == ("R$",)
    percent = guess_column(["13.5%", "2%"])
    assert (percent.type, percent.strip) == ("float", ("%",))
    assert guess_column(["36 months", "60 months"]).strip == ("months",)
    assert guess_column(["R$ 12,50", "3,00"]).type == "string"
    assert guess_column(["TX001", "TX002"]).type == "string"  # an id prefix is not a unit


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2025-04-01", "2025-12-31"], "%Y-%m-%d"),
        (["13/04/2025", "05/06/2025"], "%d/%m/%Y"),
        (["04/13/2025", "05/06/2025"], "%m/%d/%Y"),
        (["01.04.2025"], "%d.%m.%Y"),
        (["2025/04/01"], "%Y/%m/%d"),
        (["01-04-2025"], "%d-%m-%Y"),
        (["Jan-2025", "Feb-2025"], "%b-%Y"),
        (["20250401", "20251231"], "%Y%m%d"),
    ],
)
def test_date_formats(values: list[str], fmt: str) -> None:
    guess = guess_column(values)
    assert (guess.type, guess.format, guess.notes) == ("date", fmt, ())


def test_day_month_order_that_cannot_be_told_prefers_day_first_and_says_so() -> None:
    guess = guess_column(["03/04/2025", "05/06/2025"])
    assert guess.format == "%d/%m/%Y"
    assert any("ambiguous" in n and "%m/%d/%Y" in n for n in guess.notes)
    toml, _ = _draft("when\n03/04/2025\n05/06/2025\n")
    assert "# ambiguous: '03/04/2025'" in toml


def test_timestamps() -> None:
    iso = guess_column(["2025-04-01T10:00:00", "2025-04-01 11:30", "2025-04-02"])
    assert (iso.type, iso.format) == ("timestamp", None)
    local = guess_column(["13/04/2025 10:00:26", "14/04/2025 23:59:59"])
    assert (local.type, local.format) == ("timestamp", "%d/%m/%Y %H:%M:%S")


def test_bools_in_english_and_portuguese() -> None:
    english = guess_column(["yes", "no", "Yes"])
    assert (english.type, english.true_values) == ("bool", ())  # the defaults suffice
    portuguese = guess_column(["S", "N", "S"])
    assert (portuguese.type, portuguese.true_values, portuguese.false_values) == (
        "bool",
        ("s",),
        ("n",),
    )
    assert guess_column(["S", "S"]).type == "string"  # one kind only: no evidence


def test_dict_columns_get_typed_fields() -> None:
    guess = guess_column(["os:android;trusted:sim;v:5.2", "os:ios;trusted:não", ""])
    assert guess.type == "dict" and guess.missing == 1
    fields = {f.name: f for f in guess.fields}
    assert fields["os"].type == "string" and fields["v"].type == "float"
    assert (fields["trusted"].type, fields["trusted"].true_values) == ("bool", ("sim",))
    assert fields["v"].missing == 1
    assert guess_column(["06:28:23", "10:00:00"]).type == "string"  # a time is not a dict


def test_nulls_are_ignored_and_a_few_misfits_tolerated() -> None:
    assert guess_column(["", "NA", "12", "-", "null"]).type == "int"
    values = [f"{i},50" for i in range(300)] + ["12,3x"]
    guess = guess_column(values)
    assert (guess.type, guess.misfit_rows, guess.misfits) == ("float", 1, ("12,3x",))
    assert guess_column([*values[:50], "12,3x"]).type == "string"  # 1 in 51 is too many


def test_low_cardinality_strings_get_a_commented_allowed_hint() -> None:
    guess = guess_column(["Ceará", "Paraná", unicodedata.normalize("NFD", "Ceará ")] * 20)
    assert guess.allowed == ("Ceará", "Paraná")
    assert guess_column(["Ceará", "Paraná"] * 10).allowed == ()  # too small a sample
    toml, schema = _draft("uf\n" + "Ceará\nParaná\n" * 30)
    assert '# allowed = ["Ceará", "Paraná"]' in toml
    assert schema.columns[0].allowed is None


def test_names_are_snake_case_ascii_and_unique() -> None:
    headers = ["ID Transação", "Valor (R$)", "valor r", "", "2024 total", "x" * 80]
    names = snake_names(headers)
    assert names[:5] == ["id_transacao", "valor_r", "valor_r_2", "column_4", "c_2024_total"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", n) for n in names)


def test_encoding_delimiter_and_quote_are_sniffed() -> None:
    latin = decode_sample("nome;cidade\nJoão;São Paulo\n".encode("latin-1"))
    assert latin.encoding == "latin-1" and "João" in latin.text and latin.notes
    assert decode_sample(b"\xef\xbb\xbfa,b\n1,2\n").text.startswith("a,b")
    for delimiter in (",", ";", "\t", "|", " "):
        text = delimiter.join(["id", "valor", "nome"]) + "\n"
        text += delimiter.join(["1", '"1,5"', '"a b"']) + "\n"
        assert sniff_dialect(text) == Dialect(delimiter, '"')
    assert sniff_dialect("a;b\n'x;y';2\n").quote == "'"


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"  \n", "empty"), (b"PK\x03\x04\x00\x00", "binary"), (b"PAR1x", "Parquet")],
)
def test_files_that_are_not_text_get_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(InferError, match=message):
        decode_sample(data)


def test_a_first_line_that_looks_like_data_means_no_header() -> None:
    toml, schema = _draft("1;2025-04-01;abc\n2;2025-04-02;def\n3;2025-04-03;ghi\n")
    assert "header = false" in toml
    assert [c.name for c in schema.columns] == ["column_1", "column_2", "column_3"]
    _, with_header = _draft("n;dia;txt\n2;2025-04-02;def\n3;2025-04-03;ghi\n")
    assert with_header.header


def test_keys_time_column_and_inbox_pattern() -> None:
    text = "ID Cliente;Código ID;Quando\nA;1;2025-04-01\nA;2;2025-04-02\n"
    _, schema = _draft(text, file_name="clientes_20250401.csv")
    assert schema.primary_key == ("codigo_id",)
    assert schema.time_column == "quando"
    assert inbox_pattern("fraud_transactions.csv") == "fraud_transactions*.csv"
    assert inbox_pattern("export_2025-04-01.csv") == "export_*.csv"
    assert inbox_pattern("odd[1].csv") == "odd[[]1]*.csv"


def test_a_truncated_sample_drops_its_last_line() -> None:
    records = parse_records('a,b\n1,"x\n2,y', Dialect(), 100, complete=False)
    assert records == [["a", "b"]]


def test_toml_rendering_escapes_what_it_must() -> None:
    tricky = 'São "Paulo" \\ \t\n\x01 ✓'
    assert tomllib.loads(f"v = {toml_value(tricky)}")["v"] == tricky
    assert toml_value(["a", "b"]) == '["a", "b"]'
    assert toml_value({"name": "x", "ok": True}) == '{ name = "x", ok = true }'
    assert toml_comment("a\nb") == ["# a b"]


def test_a_header_with_odd_characters_round_trips() -> None:
    _, schema = _draft('"Nome ""apelido""";"C:\\dir";"Ação"\nx;y;z\n')
    assert [c.source for c in schema.columns] == ['Nome "apelido"', "C:\\dir", "Ação"]


def test_dict_fields_never_clash_with_other_columns() -> None:
    _, schema = _draft("disp|disp_os\nos:a;x:1|2\nos:b;x:2|3\n")
    assert schema.output_names() == ["disp_os_2", "disp_x", "disp_os"]


def test_empty_header_cells_are_named_and_flagged() -> None:
    toml, schema = _draft("a,,c\n1,2,3\n")
    assert [c.name for c in schema.columns] == ["a", "column_2", "c"]
    assert [c.header for c in schema.columns] == ["a", "", "c"]
    assert "column(s) 2 have no header name" in toml


def test_an_unnamed_index_column_ingests(home, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The shape of Kaggle's Give Me Some Credit: a first column with an empty header."""
    _, schema = _draft(",SeriousDlqin2yrs,age\n1,1,45\n2,0,40\n")
    path = tmp_path / "cs-training.csv"
    path.write_text(",SeriousDlqin2yrs,age\n1,1,45\n2,0,40\n")
    run = ingest_file(home, db, path, schema).run
    assert (run.rows_ok, run.rows_quarantined) == (2, 0)


def test_the_dataset_name_must_be_a_valid_schema_name() -> None:
    with pytest.raises(InferError, match="letters, digits"):
        infer_schema("my-data", "x.csv", Decoded("a\n1\n", "utf-8"), Dialect(), [["a"], ["1"]])


# -- the property: whatever we generate, the draft ingests it all, values intact --------

_DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d", "%b-%Y"]
_PLACES = ["São Paulo", "Ceará", "Goiânia", "Niterói", 'Loja "Central"', "Açaí & Cia", "Z"]
_HEADER = ["id", "Valor (R$)", "Data Transação", "Região", "Quantidade"]
_names = itertools.count()


def _number(value: int, thousands: str | None) -> str:
    text = f"{abs(value):,}".replace(",", thousands or "")
    return f"-{text}" if value < 0 else text


def _money(cents: int, decimal: str, thousands: str | None, currency: bool) -> str:
    whole = _number(abs(cents) // 100, thousands)
    text = f"{'-' if cents < 0 else ''}{whole}{decimal}{abs(cents) % 100:02d}"
    return f"R$ {text}" if currency else text


@st.composite
def _tables(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.integers(2, 25))

    def cells(values: st.SearchStrategy[Any]) -> list[Any]:  # None: an empty cell
        return draw(st.lists(st.none() | values, min_size=rows, max_size=rows))

    return {
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "header": draw(st.booleans()),
        "style": draw(st.sampled_from([(".", None), (".", ","), (",", None), (",", ".")])),
        "int_thousands": draw(st.sampled_from([None, ".", ","])),
        "currency": draw(st.booleans()),
        "date_format": draw(st.sampled_from(_DATE_FORMATS)),
        "nfd": draw(st.booleans()),
        "ids": draw(st.lists(st.integers(0, 10**6), min_size=rows, max_size=rows, unique=True)),
        "cents": cells(st.integers(-(10**9), 10**9)),
        "days": draw(
            st.lists(st.dates(date(1950, 1, 1), date(2049, 12, 31)), min_size=rows, max_size=rows)
        ),
        "places": cells(st.sampled_from(_PLACES)),
        "counts": cells(st.integers(-(10**7), 10**7)),
    }


def _write_table(table: dict[str, Any], path: Path) -> list[list[Any]]:
    """Write the table as CSV; return the values the lake should hold, column by column."""
    decimal, thousands = table["style"]
    fmt = table["date_format"]
    days = [d.replace(day=1) if fmt == "%b-%Y" else d for d in table["days"]]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=table["delimiter"], lineterminator="\n")
    if table["header"]:
        writer.writerow(_HEADER)
    for key, cents, day, place, count in zip(
        table["ids"], table["cents"], days, table["places"], table["counts"], strict=True
    ):
        writer.writerow([
            key,
            "" if cents is None else _money(cents, decimal, thousands, table["currency"]),
            day.strftime(fmt),
            "" if place is None else unicodedata.normalize("NFD" if table["nfd"] else "NFC", place),
            "" if count is None else _number(count, table["int_thousands"]),
        ])  # fmt: skip
    path.write_text(out.getvalue(), encoding="utf-8")
    amounts = [None if c is None else c / 100 for c in table["cents"]]
    return [table["ids"], amounts, days, table["places"], table["counts"]]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(table=_tables())
def test_a_draft_ingests_every_row_of_generated_tables(
    home: DataHome, db: Database, tmp_path: Path, table: dict[str, Any]
) -> None:
    name = f"gen_{next(_names)}"
    path = tmp_path / f"{name}.csv"
    expected = _write_table(table, path)
    toml, schema = _draft(path.read_text(encoding="utf-8"), name, path.name)
    result = ingest_file(home, db, path, schema)
    assert result.run.rows_quarantined == 0, toml
    lake = read_dataset(home, db, name)
    got = [lake.column(i).to_pylist() for i in range(lake.num_columns)]
    assert got == expected, toml


# -- end to end and the commands ---------------------------------------------------------


def test_the_demo_fraud_file_goes_from_unknown_to_ingested(
    run_cli: RunCli, home: DataHome, db: Database, tmp_path: Path
) -> None:
    from appliance.demo.fraud import write_fraud

    path, rows = write_fraud(tmp_path, transactions=3000, customers=300, seed=1)
    inferred: CliOutcome = run_cli("sources", "infer", str(path), "--name", "card_tx")
    assert inferred.exit_code == 0, inferred.stderr
    assert "DRAFT" in inferred.stdout and "Review" in inferred.stdout
    toml = (home.root / "sources" / "card_tx.toml").read_text(encoding="utf-8")
    assert 'delimiter = ";"' in toml and 'format = "%d/%m/%Y"' in toml
    assert 'decimal = ","' in toml and 'type = "dict"' in toml
    assert "such rows go to quarantine" in toml  # the planted misfits are called out

    ingested = run_cli("ingest", str(path), "--source", "card_tx")
    assert ingested.exit_code == 0, ingested.stderr
    planted = _planted_broken_rows(path)
    assert len(planted) == 3
    lake = read_dataset(home, db, "card_tx")
    assert lake.num_rows == rows - len(planted)
    every = {line.split(";", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()[1:]}
    assert set(lake.column("id_transacao").to_pylist()) == every - planted
    assert set(lake.column("dispositivo_os").to_pylist()) == {"android", "ios", "web"}


def _planted_broken_rows(path: Path) -> set[str]:
    broken = set()
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split(";")
        try:
            datetime.strptime(fields[1], "%d/%m/%Y")
        except ValueError:
            broken.add(fields[0])
        if fields[3].endswith("x"):
            broken.add(fields[0])
    return broken


def test_infer_refuses_to_overwrite_without_force(run_cli: RunCli, tmp_path: Path) -> None:
    data = tmp_path / "pix.csv"
    data.write_text("id;valor\n1;2,50\n", encoding="utf-8")
    target = tmp_path / "pix.toml"
    first = run_cli("sources", "infer", str(data), "--name", "pix", "--output", str(target))
    assert first.exit_code == 0 and "--schema" in first.stdout
    target.write_text("# edited by hand\n", encoding="utf-8")
    again = run_cli("sources", "infer", str(data), "--name", "pix", "--output", str(target))
    assert again.exit_code == 4 and "--force" in again.stderr
    assert target.read_text(encoding="utf-8") == "# edited by hand\n"
    forced = run_cli(
        "sources", "infer", str(data), "--name", "pix", "--output", str(target), "--force"
    )
    assert forced.exit_code == 0 and 'name = "pix"' in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(("content", "words"), [(b"", "empty"), (b"\x00\x01\x02" * 50, "binary")])
def test_infer_explains_files_it_cannot_read(
    run_cli: RunCli, tmp_path: Path, content: bytes, words: str
) -> None:
    data = tmp_path / "x.csv"
    data.write_bytes(content)
    outcome = run_cli("sources", "infer", str(data), "--name", "x")
    assert outcome.exit_code == 4 and words in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_infer_checks_the_name(run_cli: RunCli, tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    assert run_cli("sources", "infer", str(data), "--name", "../evil").exit_code == 2
    assert run_cli("sources", "infer", str(data), "--name", "my-data").exit_code == 4


def test_list_survives_a_broken_schema(run_cli: RunCli, home: DataHome) -> None:
    (home.root / "sources" / "broken.toml").write_text("name = [", encoding="utf-8")
    outcome: CliOutcome = run_cli("sources", "list")
    assert outcome.exit_code == 0
    assert re.search(r"^broken\.toml\s+invalid: .*not valid TOML", outcome.stdout, re.M)
    assert re.search(r"^fraud_transactions\s+fraud_\*\.csv\s+10 columns", outcome.stdout, re.M)


def test_check_summarises_a_schema_or_reports_its_error(run_cli: RunCli, home: DataHome) -> None:
    good = run_cli("sources", "check", str(home.root / "sources" / "fraud_transactions.toml"))
    assert good.exit_code == 0
    assert "primary key: transaction_id" in good.stdout
    assert re.search(r"amount\s+float\s+Valor \(R\$\)\s+required; decimal ','", good.stdout)
    by_name = run_cli("sources", "check", "fraud_transactions")
    assert by_name.exit_code == 0 and "ok: 10 columns, 12 in the lake" in by_name.stdout
    bad = home.root / "sources" / "bad.toml"
    bad.write_text('name = "bad"\n[[columns]]\nname = "x"\ntype = "money"\n', encoding="utf-8")
    outcome = run_cli("sources", "check", str(bad))
    assert outcome.exit_code == 4 and "'money' is not one of" in outcome.stderr
