"""`appliance score`: a real CSV through the real engine into Parquet and CSV files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from appliance.cli.main import main
from appliance.home import DataHome
from appliance.lake import read_dataset
from appliance.serving.engine import Engine
from appliance.store.db import connect
from tests.lake_fixtures import build_demo_lake, train_credit


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    home = build_demo_lake(tmp_path_factory.mktemp("batch") / "home")
    train_credit(home)
    return home


def test_every_row_is_scored_or_rejected_with_its_reason(
    trained: DataHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = connect(trained.db_path)
    applications = read_dataset(trained, db, "credit_applications").slice(0, 400)
    amounts = applications.column("requested_amount").to_pylist()
    amounts[7] = -50.0  # below the schema's minimum
    table = applications.set_column(
        applications.schema.get_field_index("requested_amount"), "requested_amount",
        pa.array(amounts, pa.float64()),
    ).drop_columns(["defaulted"])  # fmt: skip
    source = tmp_path / "applications.csv"
    pcsv.write_csv(table, source)
    with source.open("a") as handle:
        handle.write("AP0000001,only-two-fields\n")
    before = db.execute("SELECT count(*) FROM predictions").fetchone()[0]
    for output in (tmp_path / "out.parquet", tmp_path / "out.csv"):
        main(["--home", str(trained.root), "score", "credit_default", "--input", str(source),
              "--output", str(output)])  # fmt: skip
        said = capsys.readouterr().out
        assert "399 of 401 rows scored with credit_default v1; 2 rejected" in said
        result = pq.read_table(output) if output.suffix == ".parquet" else pcsv.read_csv(output)
        assert result.num_rows == 401
        errors = {r["row"]: r["error"] for r in result.to_pylist() if r["error"]}
        assert set(errors) == {7, 400}
        assert "requested_amount" in errors[7] and "minimum" in errors[7]
        assert "malformed line" in errors[400]
    parquet_source = tmp_path / "applications.parquet"
    pq.write_table(table, parquet_source)
    main(["--home", str(trained.root), "score", "credit_default", "--input",
          str(parquet_source), "--output", str(tmp_path / "from_parquet.csv")])  # fmt: skip
    assert "400 of 400 rows scored" not in capsys.readouterr().out  # row 7 is still invalid
    from_parquet = pcsv.read_csv(tmp_path / "from_parquet.csv").to_pylist()
    scored = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["probability"] for r in from_parquet] == [r["probability"] for r in scored[:400]]
    engine = Engine(trained, db)
    engine.refresh()
    record = table.slice(3, 1).to_pylist()[0]
    record["application_date"] = record["application_date"].isoformat()
    single = engine.score("credit_default", record)
    assert abs(single["probability"] - scored[3]["probability"]) < 1e-9
    assert single["decision"] == scored[3]["decision"]
    after = db.execute("SELECT count(*) FROM predictions").fetchone()[0]
    assert after - before == 3 * 399  # every scored row of the three runs is in the log
    db.close()


def test_a_wrong_output_kind_is_refused(trained: DataHome, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("application_id,customer_id,application_date,requested_amount,term_months\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(trained.root), "score", "credit_default", "--input", str(source),
              "--output", str(tmp_path / "out.xlsx")])  # fmt: skip
    assert exit_info.value.code != 0
