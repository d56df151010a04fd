"""The demo data generator: determinism, schema contract, and the signal each file must carry."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from sqlite_utils import Database

import appliance.demo as demo
from appliance.demo import FILES, FRAUD_PER_CUSTOMER, generate
from appliance.demo.credit import INCOME_BANDS, LATE_START
from appliance.demo.fraud import BAD_EVERY, CATEGORIES
from appliance.demo.regions import DROUGHT_HIT, REGION_IDS, REGIONS, hazard_calendar
from appliance.home import DataHome
from appliance.ingest.schema import SourceSchema, load_schema
from tests.conftest import CliOutcome

SOURCES = Path(demo.__file__).parents[1] / "defaults" / "sources"
ROWS = 2_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, rows=ROWS, seed=7)
    return out


def schemas() -> dict[str, SourceSchema]:
    stems = {Path(f).stem for f in FILES}  # tile_labels.toml describes the imagery job's output
    return {p.stem: load_schema(p) for p in sorted(SOURCES.glob("*.toml")) if p.stem in stems}


def read(path: Path, schema: SourceSchema) -> pa.Table:
    """Every column as text, exactly as written (no type inference, no null guessing)."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8").rstrip("\n").split(schema.delimiter)
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=schema.delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )


def load(data: Path, name: str) -> pa.Table:
    return read(data / f"{name}.csv", schemas()[name])


def test_public_api() -> None:
    assert sorted(demo.__all__) == ["DEFAULT_ROWS", "FILES", "FRAUD_PER_CUSTOMER", "generate"]


def test_importing_the_package_loads_no_numpy() -> None:
    code = "import sys, appliance.demo; print('numpy' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    lines: list[str] = []
    first = generate(tmp_path / "a", rows=300, seed=11, progress=lines.append)
    second = generate(tmp_path / "b", rows=300, seed=11)
    third = generate(tmp_path / "c", rows=300, seed=12)
    assert [p.name for p in first] == list(FILES)
    assert len(lines) == len(FILES) and lines[0] == "credit_customers.csv: 300 rows"
    for a, b, c in zip(first, second, third, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.read_bytes() != c.read_bytes(), a.name
    assert not list((tmp_path / "a").glob(".*"))  # no temp files left behind


def test_rejects_non_positive_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        generate(tmp_path, rows=0)


def test_every_shipped_schema_parses_and_matches_exactly_one_file() -> None:
    found = schemas()
    assert sorted(f"{name}.csv" for name in found) == sorted(FILES)
    for file in FILES:
        matching = [s.name for s in found.values() if fnmatch.fnmatch(file, s.inbox_pattern or "")]
        assert matching == [file.removesuffix(".csv")], file


def test_each_file_parses_and_has_exactly_its_schema_columns(data: Path) -> None:
    for name, schema in schemas().items():
        table = read(data / f"{name}.csv", schema)
        assert table.column_names == [c.header for c in schema.columns], name
        assert table.num_rows > 0
        for column in schema.columns:
            if column.required or column.name in schema.primary_key:
                assert pc.sum(pc.equal(table[column.header], "")).as_py() in (None, 0), name


def test_values_obey_their_schema(data: Path) -> None:
    """Allowed sets and patterns hold everywhere (after trim + NFC) except the bad fraud rows."""
    for name, schema in schemas().items():
        table = read(data / f"{name}.csv", schema)
        for column in schema.columns:
            if column.allowed is None and column.pattern is None:
                continue
            values = {
                unicodedata.normalize("NFC", v.strip())
                for v in pc.unique(table[column.header]).to_pylist()
            }
            if column.allowed is not None:
                assert values <= set(column.allowed), (name, column.name)
            if column.pattern is not None:
                bad = [v for v in values if v and not re.fullmatch(column.pattern, v)]
                assert not bad, (name, column.name, bad[:3])


def test_allowed_lists_agree_with_the_generators() -> None:
    found = schemas()
    assert found["credit_customers"].column("region").allowed == REGION_IDS
    assert found["bank_customers"].column("region").allowed == REGION_IDS
    assert found["credit_customers"].column("income_band").allowed == INCOME_BANDS
    assert found["fraud_transactions"].column("merchant_category").allowed == CATEGORIES


def test_region_calendar_is_fixed_and_follows_profiles() -> None:
    one, two = hazard_calendar(), hazard_calendar()
    assert np.array_equal(one.flood, two.flood) and np.array_equal(one.drought, two.drought)
    profile = np.array([r.profile for r in REGIONS])
    assert one.flood[profile == "flood"].mean() > 3 * one.flood[profile == "low"].mean()
    assert one.drought[profile == "drought"].mean() > 3 * one.drought[profile == "low"].mean()
    hit = REGION_IDS.index(DROUGHT_HIT)
    assert one.drought[hit, 18:30].all()  # 2024-07 .. 2025-06


# --- credit --------------------------------------------------------------------------------


def _ids(column: pa.ChunkedArray) -> np.ndarray:
    digits = pc.utf8_slice_codeunits(column, 2)
    return pc.cast(digits, pa.int64()).to_numpy() - 1


def _months(column: pa.ChunkedArray) -> np.ndarray:
    return np.array(column.to_pylist(), dtype="datetime64[D]").astype("datetime64[M]")


def _credit(data: Path) -> dict[str, np.ndarray]:
    apps, bills = load(data, "credit_applications"), load(data, "credit_phone_bills")
    people = load(data, "credit_customers")
    assert np.array_equal(_ids(people["customer_id"]), np.arange(ROWS))
    who = _ids(apps["customer_id"])
    app_month = np.empty(ROWS, "datetime64[M]")
    app_month[who] = _months(apps["application_date"])
    payer = _ids(bills["customer_id"])
    gap = (_months(bills["bill_month"]) - app_month[payer]).astype(int)
    before = (gap >= -12) & (gap <= -1)
    missed = pc.equal(bills["paid_date"], "").to_numpy(zero_copy_only=False)
    late = np.array([int(v or 0) > 5 for v in bills["days_late"].to_pylist()])
    region = np.array([REGION_IDS.index(r) for r in people["region"].to_pylist()])
    flood, drought = hazard_calendar().window_counts(region, app_month)
    birth = np.array(people["birth_date"].to_pylist(), "datetime64[D]")
    app_day = np.empty(ROWS, "datetime64[D]")
    app_day[who] = np.array(apps["application_date"].to_pylist(), "datetime64[D]")
    defaulted = np.empty(ROWS)
    defaulted[who] = pc.cast(apps["defaulted"], pa.int64()).to_numpy()
    amount = np.empty(ROWS)
    amount[who] = pc.cast(apps["requested_amount"], pa.float64()).to_numpy()
    return {
        "defaulted": defaulted,
        "bad_history": np.bincount(payer[before], (missed | late)[before], ROWS),
        "hazard": flood + drought,
        "late": app_day >= LATE_START,
        "age": (app_day - birth).astype(int) / 365.25,
        "amount": amount,
        "drought_hit": region == REGION_IDS.index(DROUGHT_HIT),
    }


def test_credit_sizes_and_default_rate(data: Path) -> None:
    assert load(data, "credit_phone_bills").num_rows == 24 * ROWS
    assert load(data, "credit_applications").num_rows == ROWS
    assert 0.08 <= _credit(data)["defaulted"].mean() <= 0.15


def test_credit_defaults_follow_payment_history_and_hazards(data: Path) -> None:
    c = _credit(data)
    history = c["bad_history"]
    worst = c["defaulted"][history >= np.quantile(history, 0.75)].mean()
    best = c["defaulted"][history <= np.quantile(history, 0.25)].mean()
    assert worst > best + 0.10, (worst, best)
    hit = c["defaulted"][c["hazard"] >= 3].mean()
    spared = c["defaulted"][c["hazard"] == 0].mean()
    assert hit > spared + 0.05, (hit, spared)


def test_credit_last_three_months_are_shifted(data: Path) -> None:
    c = _credit(data)
    late, early = c["late"], ~c["late"]
    assert 0.1 < late.mean() < 0.25
    assert c["age"][late].mean() < c["age"][early].mean() - 6
    assert c["amount"][late].mean() > 1.2 * c["amount"][early].mean()
    assert c["drought_hit"][late].mean() > 2 * c["drought_hit"][early].mean()


# --- fraud ---------------------------------------------------------------------------------


def test_fraud_rate_bad_rows_and_messy_text(data: Path) -> None:
    table = load(data, "fraud_transactions")
    n = FRAUD_PER_CUSTOMER * ROWS
    assert table.num_rows == n
    assert 0.02 <= pc.mean(pc.cast(table["Fraude"], pa.int64())).as_py() <= 0.04
    amounts = table["Valor (R$)"].to_pylist()
    good = re.compile(r"\d{1,3}(\.\d{3})*,\d{2}")
    bad_amounts = [a for a in amounts if not good.fullmatch(a)]
    assert all(a.endswith("x") for a in bad_amounts)
    assert any("." in a for a in amounts)  # thousands separators occur
    bad_dates = [d for d in table["Data Transação"].to_pylist() if not _valid_date(d)]
    assert len(bad_amounts) + len(bad_dates) == n // BAD_EVERY
    assert len(bad_amounts) == (n // BAD_EVERY + 1) // 2
    raw = set(table["Categoria Estabelecimento"].to_pylist())
    assert any(v != v.strip() for v in raw)
    assert any(unicodedata.normalize("NFC", v) != v for v in raw)


def test_fraud_device_column_is_key_value_pairs(data: Path) -> None:
    for value in set(load(data, "fraud_transactions")["Dispositivo"].to_pylist()):
        pairs = dict(item.split(":") for item in value.split(";"))
        assert set(pairs) == {"os", "trusted", "app_version"}
        assert pairs["trusted"] in ("sim", "não")


def _valid_date(text: str) -> bool:
    from datetime import datetime

    try:
        datetime.strptime(text, "%d/%m/%Y")
    except ValueError:
        return False
    return True


# --- bancassurance -------------------------------------------------------------------------


def test_bancassurance_conversion_depends_on_holdings(data: Path) -> None:
    offers = load(data, "bank_insurance_conversion")
    converted = pc.cast(offers["converted"], pa.int64()).to_numpy()
    assert 0.05 < converted.mean() < 0.25
    premium = offers["annual_premium"].to_numpy(zero_copy_only=False)
    assert ((premium != "") == (converted == 1)).all()
    holdings = load(data, "bank_product_holdings")
    count = np.bincount(_ids(holdings["customer_id"]), minlength=ROWS)[_ids(offers["customer_id"])]
    assert converted[count >= 3].mean() > converted[count <= 1].mean() + 0.05


# --- end to end through ingest --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(f.removesuffix(".csv") for f in FILES))
def test_ingest_keeps_every_row_and_quarantines_only_the_planted_ones(
    data: Path, home: DataHome, db: Database, name: str
) -> None:
    from appliance.ingest import ingest_file

    result = ingest_file(home, db, data / f"{name}.csv", schemas()[name])
    planted = FRAUD_PER_CUSTOMER * ROWS // BAD_EVERY if name == "fraud_transactions" else 0
    assert result.run.rows_quarantined == planted
    assert result.run.rows_ok == result.run.rows_in - planted


# --- the command ---------------------------------------------------------------------------


def test_command_writes_into_the_inbox(run_cli: Callable[..., CliOutcome], home: DataHome) -> None:
    result = run_cli("demo-data", "--rows", "50", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert "fraud_transactions.csv: 500 rows" in result.stdout
    files = [p.name for p in home.dir("inbox").iterdir() if p.is_file()]
    assert sorted(files) == sorted(FILES)
    assert len(list((home.dir("inbox") / "tiles").glob("*.tif"))) > 1000


def test_command_without_out_needs_an_initialised_home(tmp_path: Path) -> None:
    from appliance.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "nowhere"), "demo-data", "--rows", "10"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "nowhere").exists()


def test_command_with_out_needs_no_home(tmp_path: Path) -> None:
    from appliance.cli.main import main

    main(
        [
            "--home",
            str(tmp_path / "nowhere"),
            "demo-data",
            "--rows",
            "10",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert len(list((tmp_path / "out").glob("*.csv"))) == len(FILES)
