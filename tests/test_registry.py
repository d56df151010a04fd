from __future__ import annotations

import functools
import json
import math
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from appliance import audit, registry
from appliance.errors import ArtifactTampered, HomeError, NotFound, PromotionRefused, SchemaError
from appliance.home import DataHome
from appliance.registry import _staging

SPEC_SHA = "ab" * 32


@functools.cache
def tiny_booster() -> bytes:
    """A real XGBoost model: 200 random rows, 5 rounds, saved as UBJ."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ubj"
        booster.save_model(str(path))
        return path.read_bytes()


def make_metrics(
    auc: float = 0.80,
    champion: tuple[int, float] | None = None,
    fairness: bool = True,
    verdict: str = "stable",
    tolerance: float = 0.01,
) -> dict[str, Any]:
    """metrics.json as the trainer writes it (the keys the gates read)."""
    metrics: dict[str, Any] = {
        "optimise": "roc_auc",
        "test": {"roc_auc": auc, "log_loss": 0.4, "ks": 0.45},
        "valid": {"roc_auc": auc + 0.01},
        "promotion": {"tolerance": tolerance},
        "fairness": {"passed": fairness, "groups": {"gender": {"ratio": 0.9}}},
        "backtest": {"verdict": verdict},
    }
    if champion is not None:
        metrics["champion"] = {"version": champion[0], "test": {"roc_auc": champion[1]}}
    return metrics


def new_version(metrics: dict[str, Any] | None = None, **fields: Any) -> registry.NewModelVersion:
    values: dict[str, Any] = {
        "trained_at": "2024-05-01T10:00:00+00:00",
        "duration_s": 1.5,
        "params": {"max_depth": 2, "eta": 0.3},
        "metrics": make_metrics() if metrics is None else metrics,
        "feature_schema": {"inputs": [{"name": "x0", "type": "float64"}]},
        "datasets": [{"name": "credit", "version": "c0ffee", "sha256": "c0ffee" * 10 + "abcd",
                      "rows": 200, "time_min": "2023-01-01", "time_max": "2023-12-31"}],
        "spec": {"usecase": "credit", "target": "default"},
        "spec_sha256": SPEC_SHA,
        "code_version": "0.1.0",
        "seed": 42,
        "reference": {"score": {"bins": [0, 0.5, 1], "counts": [100, 100]}},
    }  # fmt: skip
    values.update(fields)
    return registry.NewModelVersion(**values)


def fill_staging(home: DataHome, model: str = "credit") -> Path:
    staging = registry.make_staging(home, model)
    (staging / "model.ubj").write_bytes(tiny_booster())
    (staging / "model_card.html").write_text("<h1>card</h1>", encoding="utf-8")
    (staging / "model_card.md").write_text("# card\n", encoding="utf-8")
    return staging


def add_version(
    db: Database, home: DataHome, metrics: dict[str, Any] | None = None, model: str = "credit"
) -> registry.ModelVersion:
    staging = fill_staging(home, model)
    new = new_version(metrics)
    return registry.register(
        db, home, model, "credit", "default risk", staging, new, actor="trainer"
    )


def actions(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY seq")]


# --- registration -------------------------------------------------------------------------


def test_versions_are_numbered_monotonically_and_moved_into_place(
    db: Database, home: DataHome
) -> None:
    first, second = add_version(db, home), add_version(db, home)
    other = add_version(db, home, model="fraud")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    folder = home.dir("models") / "credit" / "2"
    assert second.booster_path == "models/credit/2/model.ubj"
    assert second.card_path == "models/credit/2/model_card.html"
    assert (folder / "model.ubj").read_bytes() == tiny_booster()
    assert second.booster_format == "ubj" and len(second.booster_sha256) == 64
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".staging-")]
    assert [v.version for v in registry.list_versions(db, "credit")] == [1, 2]
    assert [m.name for m in registry.list_models(db)] == ["credit", "fraud"]
    assert actions(db) == ["model.register"] * 3
    assert audit.verify(db).ok


def test_a_version_reads_back_with_its_json_decoded(db: Database, home: DataHome) -> None:
    mv = add_version(db, home)
    again = registry.get_version(db, "credit", 1)
    assert again == mv
    assert mv.metrics["test"]["roc_auc"] == 0.80 and mv.params == {"max_depth": 2, "eta": 0.3}
    assert mv.datasets[0]["version"] == "c0ffee" and mv.seed == 42 and mv.compile is None
    assert mv.status == "registered" and mv.key_metric() == ("roc_auc", 0.80)


def test_a_missing_staging_dir_registers_nothing(db: Database, home: DataHome) -> None:
    add_version(db, home)
    with pytest.raises(NotFound, match="does not exist"):
        registry.register(
            db, home, "credit", "credit", "", home.dir("models") / "credit" / ".staging-gone",
            new_version(), actor="t",
        )  # fmt: skip
    assert [v.version for v in registry.list_versions(db, "credit")] == [1]
    assert add_version(db, home).version == 2


def test_a_failed_rename_rolls_the_row_back(
    db: Database, home: DataHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_version(db, home)
    staging = fill_staging(home)

    def refuse(src: Path, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_staging, "move_into_place", refuse)
    with pytest.raises(OSError, match="disk full"):
        registry.register(db, home, "credit", "credit", "", staging, new_version(), actor="t")
    monkeypatch.undo()
    assert staging.is_dir()
    assert [v.version for v in registry.list_versions(db, "credit")] == [1]
    assert actions(db) == ["model.register"]
    assert registry.register(
        db, home, "credit", "credit", "", staging, new_version(), actor="t"
    ).version == 2  # fmt: skip


def test_a_failure_after_the_rename_moves_the_directory_back(
    db: Database, home: DataHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = fill_staging(home)

    def crash(path: Path) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(_staging, "sync_dir", crash)
    with pytest.raises(OSError, match="fsync"):
        registry.register(db, home, "credit", "credit", "", staging, new_version(), actor="t")
    assert staging.is_dir() and not (home.dir("models") / "credit" / "1").exists()
    assert db.execute("SELECT count(*) FROM model_versions").fetchone()[0] == 0


def test_a_directory_left_by_a_crash_is_moved_aside(db: Database, home: DataHome) -> None:
    leftover = home.dir("models") / "credit" / "1"
    leftover.mkdir(parents=True)
    (leftover / "model.ubj").write_bytes(b"half-written")
    mv = add_version(db, home)
    assert mv.version == 1
    assert (leftover / "model.ubj").read_bytes() == tiny_booster()
    aside = [p for p in leftover.parent.iterdir() if p.name.startswith(".orphan-1-")]
    assert len(aside) == 1 and (aside[0] / "model.ubj").read_bytes() == b"half-written"


def test_staging_must_live_under_the_models_folder(
    db: Database, home: DataHome, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.ubj").write_bytes(tiny_booster())
    with pytest.raises(HomeError, match="make_staging"):
        registry.register(db, home, "credit", "credit", "", outside, new_version(), actor="t")
    with pytest.raises(HomeError):
        registry.make_staging(home, "../escape")


def test_staging_must_hold_the_named_files(db: Database, home: DataHome) -> None:
    staging = registry.make_staging(home, "credit")
    with pytest.raises(SchemaError, match=r"model\.ubj"):
        registry.register(db, home, "credit", "credit", "", staging, new_version(), actor="t")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"booster_file": "model.pkl"}, ".ubj or .json"),
        ({"booster_file": "../model.ubj"}, "plain file name"),
        ({"trained_at": "yesterday"}, "ISO-8601"),
        ({"duration_s": -1.0}, "duration_s"),
        ({"seed": "42"}, "seed"),
        ({"spec_sha256": "abc"}, "spec_sha256"),
        ({"datasets": [{"name": "credit"}]}, "name and version"),
    ],
)
def test_new_versions_are_validated(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(SchemaError, match=problem):
        new_version(**fields)


def test_nan_metrics_are_refused_not_stored(db: Database, home: DataHome) -> None:
    metrics = make_metrics(auc=math.nan)
    staging = fill_staging(home)
    new = new_version(metrics)
    with pytest.raises(SchemaError, match="metrics holds NaN"):
        registry.register(db, home, "credit", "credit", "", staging, new, actor="t")
    assert "credit" not in [m.name for m in registry.list_models(db)]


def test_a_model_belongs_to_one_use_case(db: Database, home: DataHome) -> None:
    add_version(db, home)
    staging = fill_staging(home)
    with pytest.raises(SchemaError, match="belongs to use case"):
        registry.register(db, home, "credit", "fraud", "", staging, new_version(), actor="t")


# --- artifacts ----------------------------------------------------------------------------


def test_a_registered_booster_loads_and_predicts(db: Database, home: DataHome) -> None:
    import numpy as np
    import xgboost as xgb

    booster = registry.load_booster(home, add_version(db, home))
    scores = booster.predict(xgb.DMatrix(np.zeros((3, 4))))
    assert scores.shape == (3,) and ((scores > 0) & (scores < 1)).all()


def test_a_tampered_booster_is_refused(db: Database, home: DataHome) -> None:
    mv = add_version(db, home)
    path = home.inside(mv.booster_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactTampered, match="changed after registration") as refused:
        registry.load_booster(home, mv)
    assert refused.value.exit_code == 8
    path.unlink()
    with pytest.raises(NotFound, match="missing"):
        registry.load_booster(home, mv)


def test_the_card_is_found_inside_the_home(db: Database, home: DataHome) -> None:
    card = registry.card_file(home, add_version(db, home))
    assert card is not None and card.read_text(encoding="utf-8") == "<h1>card</h1>"


# --- resolving references -----------------------------------------------------------------


def test_references_resolve_by_number_alias_and_latest(db: Database, home: DataHome) -> None:
    add_version(db, home)
    add_version(db, home, make_metrics(champion=(1, 0.79)))
    registry.promote(db, "credit", 1, actor="risk", reason="first")
    assert registry.resolve(db, "credit", "2").version == 2
    assert registry.resolve(db, "credit", "v1").version == 1
    assert registry.resolve(db, "credit", "production").version == 1
    assert registry.resolve(db, "credit", "latest").version == 2
    assert registry.aliases(db, "credit") == {"production": 1}
    with pytest.raises(NotFound, match=r"versions: 1, 2; aliases: production=1"):
        registry.resolve(db, "credit", "challenger")
    with pytest.raises(NotFound, match="no version 9"):
        registry.resolve(db, "credit", "9")
    with pytest.raises(NotFound, match="neither a version number nor an alias"):
        registry.resolve(db, "credit", "best")
    with pytest.raises(NotFound, match="known models: credit"):
        registry.resolve(db, "nope", "1")


def test_a_compile_result_is_recorded_and_audited(db: Database, home: DataHome) -> None:
    add_version(db, home)
    result = {"status": "ok", "max_abs_diff": 1e-7, "library_sha256": "cd" * 32}
    mv = registry.record_compile(db, "credit", 1, result, actor="compiler")
    assert mv.compile == result and actions(db)[-1] == "model.compile"
    with pytest.raises(SchemaError, match="compile status"):
        registry.record_compile(db, "credit", 1, {"status": "maybe"}, actor="compiler")


# --- promotion, rollback, rejection -------------------------------------------------------


def test_promote_and_rollback_round_trip(db: Database, home: DataHome) -> None:
    add_version(db, home)
    report = registry.promote(db, "credit", 1, actor="risk", reason="first model")
    assert report.passed and report.gates[0].detail == "first production model"
    add_version(db, home, make_metrics(auc=0.83, champion=(1, 0.80)))
    assert registry.promote(db, "credit", 2, actor="risk", reason="better").production == 1
    assert registry.aliases(db, "credit")["production"] == 2

    assert registry.rollback(db, "credit", actor="ops", reason="complaints") == (2, 1)
    assert registry.aliases(db, "credit")["production"] == 1
    with pytest.raises(PromotionRefused, match="first production version"):
        registry.rollback(db, "credit", actor="ops", reason="again")

    events = db.execute(
        "SELECT action, version, previous_version, actor FROM alias_events ORDER BY id"
    ).fetchall()
    assert events == [("promote", 1, None, "risk"), ("promote", 2, 1, "risk"),
                      ("rollback", 1, 2, "ops")]  # fmt: skip
    changes = [a for a in actions(db) if a != "model.register"]
    assert changes == ["model.promote", "model.promote", "model.rollback"]
    assert audit.verify(db).ok


def test_rollback_walks_back_through_history(db: Database, home: DataHome) -> None:
    add_version(db, home)
    registry.promote(db, "credit", 1, actor="r", reason="1")
    for version in (2, 3):
        add_version(db, home, make_metrics(auc=0.80, champion=(version - 1, 0.80)))
        registry.promote(db, "credit", version, actor="r", reason=str(version))
    assert registry.rollback(db, "credit", actor="o", reason="bad") == (3, 2)
    assert registry.rollback(db, "credit", actor="o", reason="also bad") == (2, 1)
    assert registry.previous_production(db, "credit") is None


def test_rollback_without_production_is_refused(db: Database, home: DataHome) -> None:
    add_version(db, home)
    with pytest.raises(PromotionRefused, match="no production version"):
        registry.rollback(db, "credit", actor="o", reason="why")
    with pytest.raises(NotFound):
        registry.rollback(db, "ghost", actor="o", reason="why")


def test_a_refused_promotion_is_audited_and_changes_nothing(db: Database, home: DataHome) -> None:
    add_version(db, home)
    registry.promote(db, "credit", 1, actor="risk", reason="first")
    add_version(db, home, make_metrics(auc=0.70, champion=(1, 0.80), verdict="unstable"))
    with pytest.raises(registry.GatesFailed, match=r"performance.*backtest") as refused:
        registry.promote(db, "credit", 2, actor="risk", reason="try")
    assert refused.value.exit_code == 7 and refused.value.http_status == 409
    assert [g.name for g in refused.value.report.failed] == ["performance", "backtest"]
    assert registry.aliases(db, "credit") == {"production": 1}
    details = json.loads(
        db.execute("SELECT details FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0]
    )
    assert actions(db)[-1] == "model.promotion_refused"
    assert [g["name"] for g in details["gates"] if not g["passed"]] == ["performance", "backtest"]
    assert audit.verify(db).ok


def test_a_fairness_override_is_recorded(db: Database, home: DataHome) -> None:
    add_version(db, home, make_metrics(fairness=False))
    with pytest.raises(registry.GatesFailed, match="fairness"):
        registry.promote(db, "credit", 1, actor="risk", reason="go")
    report = registry.promote(
        db, "credit", 1, actor="cro", reason="go", override_fairness="regulator approved"
    )
    assert report.fairness_override == "regulator approved"
    assert actions(db)[-3:] == [
        "model.promotion_refused",
        "model.promote",
        "model.fairness_override",
    ]
    last = json.loads(db.execute("SELECT details FROM audit_log ORDER BY seq DESC").fetchone()[0])
    assert last["override"] == "regulator approved" and last["fairness"]["passed"] is False
    assert audit.verify(db).ok


def test_challenger_and_shadow_skip_the_gates(db: Database, home: DataHome) -> None:
    add_version(db, home, make_metrics(fairness=False, verdict="unstable"))
    report = registry.promote(db, "credit", 1, alias="challenger", actor="ds", reason="try it")
    assert report.gates == () and registry.aliases(db, "credit") == {"challenger": 1}
    registry.promote(db, "credit", 1, alias="shadow", actor="ds", reason="shadow it")
    assert actions(db)[-2:] == ["model.assign", "model.assign"]
    with pytest.raises(PromotionRefused, match="already is shadow"):
        registry.promote(db, "credit", 1, alias="shadow", actor="ds", reason="again")
    with pytest.raises(PromotionRefused, match="not one of"):
        registry.promote(db, "credit", 1, alias="best", actor="ds", reason="x")
    with pytest.raises(PromotionRefused, match="reason is required"):
        registry.promote(db, "credit", 1, alias="challenger", actor="ds", reason="  ")


def test_a_rejected_version_never_takes_an_alias(db: Database, home: DataHome) -> None:
    add_version(db, home)
    registry.promote(db, "credit", 1, actor="r", reason="first")
    add_version(db, home, make_metrics(champion=(1, 0.80)))
    registry.promote(db, "credit", 2, alias="challenger", actor="r", reason="try")
    with pytest.raises(PromotionRefused, match="in production"):
        registry.reject(db, "credit", 1, actor="r", reason="no")
    rejected = registry.reject(db, "credit", 2, actor="mrm", reason="leaks the target")
    assert rejected.status == "rejected" and registry.aliases(db, "credit") == {"production": 1}
    with pytest.raises(PromotionRefused, match="rejected"):
        registry.promote(db, "credit", 2, actor="r", reason="please")
    assert actions(db)[-1] == "model.reject"
    clear = db.execute("SELECT action, alias, version, previous_version FROM alias_events"
                       " ORDER BY id DESC").fetchone()  # fmt: skip
    assert clear == ("clear", "challenger", None, 2)


def test_rollback_skips_rejected_versions(db: Database, home: DataHome) -> None:
    add_version(db, home)
    registry.promote(db, "credit", 1, actor="r", reason="1")
    for version in (2, 3):
        add_version(db, home, make_metrics(champion=(version - 1, 0.80)))
        registry.promote(db, "credit", version, actor="r", reason=str(version))
    registry.rollback(db, "credit", actor="o", reason="3 is bad")
    registry.promote(db, "credit", 3, actor="r", reason="fixed upstream")
    registry.reject(db, "credit", 2, actor="mrm", reason="found a leak")
    assert registry.rollback(db, "credit", actor="o", reason="3 again") == (3, 1)


def test_the_registry_tables_protect_themselves(db: Database, home: DataHome) -> None:
    add_version(db, home)
    registry.promote(db, "credit", 1, actor="r", reason="first")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM alias_events")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute("UPDATE model_versions SET status = 'deleted'")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.execute("UPDATE model_aliases SET version = 7")


# --- comparison and the package surface ---------------------------------------------------


def test_compare_puts_metrics_side_by_side(db: Database, home: DataHome) -> None:
    a = add_version(db, home)
    b = add_version(db, home, make_metrics(auc=0.85, champion=(1, 0.80)))
    result = registry.compare_versions(a, b)
    rows = {row.name: row for row in result.metrics}
    assert rows["test.roc_auc"].diff == pytest.approx(0.05)
    assert "champion.test.roc_auc" not in rows and "promotion.tolerance" not in rows
    assert rows["fairness.groups.gender.ratio"].diff == 0
    assert result.params == ()


def test_importing_the_registry_loads_no_xgboost() -> None:
    code = "import sys, appliance.registry; print('xgboost' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert [n for n in registry.__all__ if not hasattr(registry, n)] == []


def test_numpy_values_and_dates_are_stored_as_plain_json(db: Database, home: DataHome) -> None:
    import datetime

    import numpy as np

    metrics = make_metrics()
    metrics["test"]["roc_auc"] = np.float32(0.75)
    metrics["split"] = {"until": datetime.date(2024, 1, 31), "sizes": np.array([3, 4])}
    staging = fill_staging(home)
    mv = registry.register(db, home, "credit", "credit", "", staging, new_version(metrics),
                           actor="t")  # fmt: skip
    assert mv.metrics["test"]["roc_auc"] == pytest.approx(0.75)
    assert mv.metrics["split"] == {"until": "2024-01-31", "sizes": [3, 4]}
