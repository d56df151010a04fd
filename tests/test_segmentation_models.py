"""The segment profile with real production models (the propensity classifier and the premium
regression): trained, promoted, loaded through ``load_scorer`` as they serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance import registry
from appliance.features.sources import LakeSources
from appliance.home import DataHome
from appliance.scoring import load_scorer
from appliance.segmentation import train_segmentation
from appliance.segmentation.predictions import model_kind
from appliance.store.db import connect
from appliance.training.run import train_usecase
from appliance.usecase.locate import locate_spec
from appliance.usecase.parse import load_spec, parse_spec
from appliance.usecase.spec import UseCaseSpec
from tests.test_segmentation import build_bank_lake


def test_the_model_kind_is_read_from_the_objective_or_the_task() -> None:
    assert model_kind({"objective": "binary:logistic"}, {}) == "classification"
    assert model_kind({"objective": "reg:squarederror"}, {}) == "regression"
    assert model_kind({}, {"task": "regression"}) == "regression"
    assert model_kind({}, {}) == "classification"


PREMIUM = Path(__file__).parents[1] / "appliance/defaults/usecases/insurance_premium.toml"


def _quick(spec: UseCaseSpec, **raw: Any) -> UseCaseSpec:
    training = {**spec.raw["training"], "trials": 1, "max_rounds": 40}
    return parse_spec({**spec.raw, "training": training, **raw}, origin=spec.origin,
                      fingerprint=spec.fingerprint)  # fmt: skip


def _train_and_promote(home: DataHome, db: Any, spec: UseCaseSpec) -> int:
    model = train_usecase(home, db, spec, actor="t", compile_model=False)
    registry.promote(db, spec.model_name, model.version.version, actor="t", reason="test",
                     override_fairness="small test lake")  # fmt: skip
    return model.version.version


@pytest.mark.slow
def test_each_segment_shows_the_production_models_mean_propensity_and_premium(
    tmp_path: Path,
) -> None:
    home = build_bank_lake(tmp_path / "home")
    db = connect(home.db_path)
    base = locate_spec(home, "insurance_propensity")
    segmentation = {**base.raw["segmentation"], "models": ["insurance_premium", "branch_demand"]}
    spec = _quick(base, segmentation=segmentation)
    propensity = _train_and_promote(home, db, spec)
    premium = _train_and_promote(home, db, _quick(load_spec(PREMIUM)))

    outcome = train_segmentation(home, db, spec, actor="t")

    sources = LakeSources(home, db)
    table = sources.table("bank_insurance_conversion")
    for name, label in [
        ("insurance_propensity", f"mean propensity (insurance_propensity v{propensity})"),
        ("insurance_premium", f"mean predicted annual_premium (insurance_premium v{premium})"),
    ]:
        per_segment, population = outcome.profile.predictions[label]
        loaded = load_scorer(home, db, name)  # as it serves
        predicted = loaded.scorer.predict(loaded.pipeline.transform(table, sources))
        assert population == pytest.approx(float(predicted.mean()))
        weighted = float(np.dot(per_segment, outcome.profile.shares))
        assert weighted == pytest.approx(float(predicted.mean()))
        assert label in outcome.report.read_text(encoding="utf-8")
    propensities = outcome.profile.predictions[
        f"mean propensity (insurance_propensity v{propensity})"][0]  # fmt: skip
    assert np.all((propensities > 0) & (propensities < 1))
    # a model named in the spec that does not exist (yet): said, not failed
    assert any("`branch_demand` has no production version" in n for n in outcome.notes)
    db.close()
