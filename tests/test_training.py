"""Training end to end on a real (small) demo lake: features, split, models, registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from appliance.errors import SchemaError
from appliance.features.sources import LakeSources, TableSources
from appliance.home import DataHome
from appliance.store.db import connect
from appliance.training.run import prepare, train_usecase
from appliance.usecase.locate import locate_spec
from appliance.usecase.parse import load_spec, parse_spec
from appliance.usecase.spec import UseCaseSpec
from tests.lake_fixtures import build_demo_lake, copy_home


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    return build_demo_lake(tmp_path_factory.mktemp("lake") / "home")


@pytest.fixture
def lake(demo_lake: DataHome, tmp_path: Path) -> DataHome:
    return copy_home(demo_lake, tmp_path / "home")


def spec_variant(home: DataHome, name: str, edit: Callable[[str], str]) -> UseCaseSpec:
    text = (home.dir("usecases") / f"{name}.toml").read_text()
    path = home.dir("usecases") / f"{name}_variant.toml"
    path.write_text(edit(text))
    return load_spec(path)


def quiet(_line: str) -> None:
    pass


def test_credit_model_beats_the_baseline_and_is_registered(lake: DataHome) -> None:
    db = connect(lake.db_path)
    spec = locate_spec(lake, "credit_default")
    outcome = train_usecase(lake, db, spec, actor="tester", progress=quiet)
    m = outcome.metrics
    # 2,500 customers are too few to rank XGBoost against the baseline reliably (the demo's
    # 20,000 do: see the closing note); both must clearly have learnt the signal.
    assert m["test"]["roc_auc"] > 0.72 and m["baseline_test"]["roc_auc"] > 0.72
    assert outcome.version.version == 1
    folder = lake.inside(outcome.version.booster_path).parent
    for name in ("model.ubj", "feature_pipeline.json", "metrics.json", "model_card.md"):
        assert (folder / name).is_file(), name
    assert outcome.card is not None and outcome.card.is_file()
    stored = json.loads((folder / "metrics.json").read_text())
    assert stored["split"]["periods"]["test"][1] < stored["split"]["periods"]["backtest"][0]
    assert {r["feature"] for r in m["importance"]} >= {"pay_missed_12m", "requested_amount"}
    assert set(m["fairness"]["attributes"][0]) >= {"attribute", "passed"}
    names = [f["name"] for f in outcome.version.feature_schema]
    assert "gender" not in names and "birth_date" not in names
    assert [d["name"] for d in outcome.version.datasets] == [
        "credit_applications", "credit_customers", "credit_phone_bills", "tile_labels",
    ]  # fmt: skip
    assert {"flood_months_1y", "drought_months_5y"} <= set(names)


def test_same_data_and_seed_give_the_same_model_bytes(lake: DataHome) -> None:
    db = connect(lake.db_path)
    spec = locate_spec(lake, "credit_default")
    first = train_usecase(lake, db, spec, actor="t", progress=quiet).version
    second = train_usecase(lake, db, spec, actor="t", progress=quiet).version
    assert (first.version, second.version) == (1, 2)
    assert first.booster_sha256 == second.booster_sha256


def test_a_second_model_is_compared_with_production_on_the_same_test_rows(lake: DataHome) -> None:
    from appliance.registry import promote

    db = connect(lake.db_path)
    spec = locate_spec(lake, "credit_default")
    first = train_usecase(lake, db, spec, actor="t", progress=quiet).version
    promote(db, "credit_default", first.version, actor="t", reason="r", override_fairness="test")
    second = train_usecase(lake, db, spec, actor="t", progress=quiet)
    champion = second.metrics["champion"]
    assert champion["version"] == 1
    assert champion["test"]["roc_auc"] == pytest.approx(second.metrics["test"]["roc_auc"])


def test_future_records_do_not_change_any_feature(lake: DataHome) -> None:
    """Plant, for every applicant, a disastrous bill dated after the application."""
    db = connect(lake.db_path)
    spec = locate_spec(lake, "credit_default")
    sources = LakeSources(lake, db)
    before = prepare(spec, sources, quiet)
    bills = sources.table("credit_phone_bills")
    apps = before.table
    n = apps.num_rows
    day = pa.compute.cast(apps.column("application_date"), pa.date32())
    planted = pa.table(
        {
            name: pa.array([None] * n, type=bills.schema.field(name).type)
            for name in bills.column_names
        }
    )
    planted = planted.set_column(0, "bill_id", pa.array([f"PB9{i:09d}" for i in range(n)]))
    for name, values in {
        "customer_id": apps.column("customer_id").combine_chunks(),
        "bill_month": day,  # on the application date: not strictly before it
        "due_date": day,
        "billed_amount": pa.array(np.full(n, 500.0)),
        "amount_paid": pa.array(np.zeros(n)),
    }.items():
        planted = planted.set_column(planted.schema.get_field_index(name), name, values)
    kept = ("credit_applications", "credit_customers", "tile_labels")
    tables = {name: sources.table(name) for name in kept}
    tables["credit_phone_bills"] = pa.concat_tables([bills, planted])
    after = prepare(spec, TableSources(tables), quiet)
    np.testing.assert_array_equal(before.x, after.x)


def test_a_missing_column_is_refused_before_training(lake: DataHome) -> None:
    spec = spec_variant(lake, "credit_default", lambda t: t.replace(
        'column = "term_months"', 'column = "term_in_months"'))  # fmt: skip
    with pytest.raises(SchemaError, match="'credit_applications' has no column 'term_in_months'"):
        prepare(spec, LakeSources(lake, connect(lake.db_path)), quiet)


def test_a_one_class_target_is_refused(lake: DataHome) -> None:
    spec = spec_variant(lake, "credit_default", lambda t: t.replace("positive = 1", "positive = 7"))
    with pytest.raises(SchemaError, match="one class in the training window"):
        prepare(spec, LakeSources(lake, connect(lake.db_path)), quiet)


def test_an_empty_training_window_is_refused(lake: DataHome) -> None:
    spec = spec_variant(lake, "credit_default", lambda t: t.replace(
        'until = "2025-03-31"', 'until = "2019-01-01"'))  # fmt: skip
    with pytest.raises(SchemaError, match=r"training window .*is empty"):
        prepare(spec, LakeSources(lake, connect(lake.db_path)), quiet)


def test_a_protected_attribute_used_as_a_feature_is_refused(lake: DataHome) -> None:
    with pytest.raises(SchemaError, match="protected attribute"):
        spec_variant(lake, "credit_default", lambda t: t.replace(
            'column = "customer.income_band"', 'column = "customer.gender"'))  # fmt: skip


def test_a_leaking_feature_is_refused_naming_it(lake: DataHome) -> None:
    """A column recorded after the decision (here: the outcome itself, renamed)."""
    db = connect(lake.db_path)
    sources = LakeSources(lake, db)
    apps = sources.table("credit_applications")
    leaked = apps.append_column("arrears_after_12m", pa.compute.multiply(apps["defaulted"], 90))
    kept = ("credit_customers", "credit_phone_bills", "tile_labels")
    tables = {n: sources.table(n) for n in kept}
    tables["credit_applications"] = leaked
    term = '[[features]]\ncolumn = "term_months"'
    leak = term + '\n\n[[features]]\ncolumn = "arrears_after_12m"'
    spec = spec_variant(lake, "credit_default", lambda t: t.replace(term, leak))
    with pytest.raises(SchemaError, match=r"'arrears_after_12m' .* alone predicts"):
        prepare(spec, TableSources(tables), quiet)


def test_an_unseen_single_table_dataset_trains_with_auto_features_and_a_random_split() -> None:
    """Like a public credit data set: one table, string target, no dates, no entity."""
    rng = np.random.default_rng(3)
    n = 1200
    duration = rng.integers(6, 60, n)
    purpose = rng.choice(["car", "furniture", "education", "business"], n)
    savings = rng.normal(1000, 400, n)
    logit = 0.05 * (duration - 30) - 0.002 * (savings - 1000) + (purpose == "business") * 0.8
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    table = pa.table({
        "id": [f"G{i}" for i in range(n)], "duration": duration, "purpose": purpose,
        "savings": savings, "sex": rng.choice(["f", "m"], n),
        "risk": np.where(bad, "bad", "good"),
    })  # fmt: skip
    spec = parse_spec({
        "name": "german", "population": {
            "dataset": "german", "id": "id", "target": "risk", "positive": "bad"},
        "protected": [{"column": "sex"}],
    })  # fmt: skip
    prep = prepare(spec, TableSources({"german": table}), quiet)
    assert prep.pipeline.names == ["duration", "purpose", "savings"]
    assert prep.split.policy == "random" and prep.split.backtest.size == 0
    rate = prep.y.mean()
    for part in ("train", "test"):
        assert prep.y[getattr(prep.split, part)].mean() == pytest.approx(rate, abs=0.02)


def test_train_command_prints_a_summary(lake: DataHome, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli.main import main

    try:
        main(["--home", str(lake.root), "train", "credit_default"])
    except SystemExit as done:
        assert done.code in (0, None)
    out = capsys.readouterr()
    assert "credit_default version 1 registered" in out.out
    assert "vs baseline" in out.out and "model card:" in out.out
    assert "trial 1/6" in out.err


def test_incremental_training_continues_the_production_booster(lake: DataHome) -> None:
    from appliance.registry import promote

    db = connect(lake.db_path)
    early = spec_variant(lake, "credit_default", lambda t: t.replace(
        'until = "2025-03-31"', 'until = "2024-10-31"').replace(
        "backtest_months = 2", "backtest_months = 0"))  # fmt: skip
    first = train_usecase(lake, db, early, actor="t", progress=quiet).version
    promote(db, "credit_default", first.version, actor="t", reason="r", override_fairness="test")
    spec = locate_spec(lake, "credit_default")
    lines: list[str] = []
    second = train_usecase(lake, db, spec, actor="t", progress=lines.append, incremental=True)
    assert second.version.params["continued_from"] == 1
    assert second.version.params["best_round"] >= first.params["best_round"]
    assert any("newer training rows" in line for line in lines)
    assert second.version.feature_schema == first.feature_schema


def test_incremental_training_without_a_production_model_is_refused(lake: DataHome) -> None:
    db = connect(lake.db_path)
    with pytest.raises(SchemaError, match="there is none yet"):
        train_usecase(
            lake, db, locate_spec(lake, "credit_default"), actor="t", incremental=True
        )
