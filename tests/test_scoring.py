"""Registered versions compiled and loaded for scoring: training compiles, the registry
records it, the gate reads it, and the loader never serves a library it cannot trust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from appliance import registry
from appliance.home import DataHome
from appliance.scoring import PARITY_FILES, compile_version, load_scorer
from appliance.store.db import connect
from appliance.training.run import train_usecase
from appliance.usecase.locate import locate_spec
from tests.lake_fixtures import build_demo_lake, copy_home
from tests.test_compiled_models import faulty_compiler


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    """A demo lake with credit_default v1 trained, compiled and registered (not promoted)."""
    home = build_demo_lake(tmp_path_factory.mktemp("scoring") / "home")
    db = connect(home.db_path)
    train_usecase(home, db, locate_spec(home, "credit_default"), actor="tester", progress=quiet)
    db.close()
    return home


@pytest.fixture
def lake(trained_lake: DataHome, tmp_path: Path) -> tuple[DataHome, Database]:
    home = copy_home(trained_lake, tmp_path / "home")
    return home, connect(home.db_path)


def test_training_compiles_and_the_loader_serves_the_library(lake) -> None:
    home, db = lake
    mv = registry.resolve(db, "credit_default", "1")
    assert mv.compile is not None and mv.compile["status"] == "ok"
    assert mv.compile["max_abs_diff"] <= 1e-5
    library = home.inside(mv.compile["library"])
    assert library.parent == home.inside(mv.booster_path).parent and library.suffix == ".so"
    loaded = load_scorer(home, db, "credit_default", "1")
    assert loaded.scorer.kind == "native" and loaded.scorer.reason == ""
    rows = np.load(library.parent / PARITY_FILES["test"])
    assert rows.shape[1] == len(loaded.pipeline.names) == loaded.scorer.n_features
    want = loaded.booster.inplace_predict(rows)
    assert np.abs(loaded.scorer.predict(rows) - want).max() <= 1e-5
    assert abs(loaded.scorer.predict_one(rows[0]) - want[0]) <= 1e-5
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert "model.compile" in actions


def test_a_changed_library_falls_back_to_xgboost_and_says_why(lake) -> None:
    home, db = lake
    mv = registry.resolve(db, "credit_default", "1")
    library = home.inside(mv.compile["library"])
    data = bytearray(library.read_bytes())
    data[-100] ^= 0xFF
    library.write_bytes(bytes(data))
    loaded = load_scorer(home, db, "credit_default", "1")
    assert loaded.scorer.kind == "xgboost"
    assert "changed since" in loaded.scorer.reason
    rows = np.load(library.parent / PARITY_FILES["test"])[:20]
    assert np.allclose(loaded.scorer.predict(rows), loaded.booster.inplace_predict(rows))


def test_recompiling_is_a_cache_hit_and_the_cli_reports_it(lake, capsys) -> None:
    from appliance.cli.main import main

    home, _ = lake
    main(["--home", str(home.root), "models", "compile", "credit_default", "1"])
    out = capsys.readouterr().out
    assert "credit_default/1: ok" in out and "(cached)" in out and "us per row" in out


def test_no_compiler_means_xgboost_serves_and_promotion_is_allowed(lake, monkeypatch) -> None:
    home, db = lake
    monkeypatch.setenv("CC", "no-such-cc")
    outcome = train_usecase(home, db, locate_spec(home, "credit_default"), actor="tester",
                            progress=quiet)  # fmt: skip
    mv = outcome.version
    assert mv.compile["status"] == "unavailable" and "no working C compiler" in mv.compile["reason"]
    report = registry.promote(db, "credit_default", mv.version, actor="tester", reason="test")
    compile_gate = next(g for g in report.gates if g.name == "compile")
    assert compile_gate.passed and compile_gate.warning
    assert "XGBoost will serve" in compile_gate.detail
    loaded = load_scorer(home, db, "credit_default")
    assert loaded.version.version == mv.version and loaded.scorer.kind == "xgboost"
    assert "no working C compiler" in loaded.scorer.reason


def test_a_library_that_disagrees_blocks_promotion(lake, tmp_path, monkeypatch) -> None:
    home, db = lake
    monkeypatch.setenv("CC", faulty_compiler(tmp_path, """
        text = open(source).read().replace("result[0] += ", "result[0] += 0.05f + ")
        source = source + ".bad.c"
        open(source, "w").write(text)
    """))  # fmt: skip
    mv, report = compile_version(home, db, "credit_default", "1", actor="tester")
    assert report.status == "failed" and mv.compile["status"] == "failed"
    with pytest.raises(registry.GatesFailed, match="cannot be promoted"):
        registry.promote(db, "credit_default", 1, actor="tester", reason="test")
    loaded = load_scorer(home, db, "credit_default", "1")
    assert loaded.scorer.kind == "xgboost" and "no variant matches XGBoost" in loaded.scorer.reason
