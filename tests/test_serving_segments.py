"""Serving answers with the customer's segment when the use case has a production
segmentation: assigned live from the same raw features, equal to the stored one, and
never in the way of scoring when the artifact cannot be trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.home import DataHome
from appliance.lake import read_dataset
from appliance.segmentation import train_segmentation
from appliance.serving.engine import Engine
from appliance.store.db import connect
from appliance.usecase.locate import locate_spec
from tests.test_segmentation import build_bank_lake
from tests.test_segmentation_models import _quick, _train_and_promote

USECASE = "insurance_propensity"


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataHome, Any]:
    home = build_bank_lake(tmp_path_factory.mktemp("segments") / "home")
    db = connect(home.db_path)
    spec = _quick(locate_spec(home, USECASE))
    _train_and_promote(home, db, spec)
    outcome = train_segmentation(home, db, spec, actor="t", promote=True)
    db.close()
    return home, outcome


def _offers(home: DataHome, db: Any, rows: int = 40) -> Any:
    table = read_dataset(home, db, "bank_insurance_conversion").slice(0, rows)
    return table.drop_columns(["converted", "annual_premium"])


@pytest.mark.slow
def test_each_answer_carries_the_customers_stored_segment(
    segmented: tuple[DataHome, Any],
) -> None:
    home, outcome = segmented
    db = connect(home.db_path)
    engine = Engine(home, db, sink=lambda _record: None)
    engine.refresh()
    answers = engine.score_clean(USECASE, _offers(home, db), ())
    stored = dict(db.execute(
        "SELECT entity_id, segment FROM production_customer_segments WHERE usecase = ?",
        [USECASE]).fetchall())  # fmt: skip
    db.close()
    assert len(answers) == 40 and all("probability" in a for a in answers)
    assert all(a["segmentation_version"] == outcome.version.version for a in answers)
    assert [a["segment"] for a in answers] == [stored[a["customer_id"]] for a in answers]
    assert len({a["segment"] for a in answers}) > 1


@pytest.mark.slow
def test_a_tampered_segmentation_is_left_out_and_scoring_goes_on(
    segmented: tuple[DataHome, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    home, outcome = segmented
    artifact = home.inside(outcome.version.artifact_path)
    original = artifact.read_bytes()
    artifact.write_bytes(original.replace(b'"k"', b'"k" ', 1))
    try:
        db = connect(home.db_path)
        engine = Engine(home, db, sink=lambda _record: None)
        with caplog.at_level("WARNING", logger="appliance.serving"):
            engine.refresh()
        answers = engine.score_clean(USECASE, _offers(home, db, 5), ())
        db.close()
    finally:
        artifact.write_bytes(original)
    assert all("probability" in a and "segment" not in a for a in answers)
    assert any("without segments" in r.getMessage() and str(Path(artifact.name)) in
               r.getMessage() for r in caplog.records)  # fmt: skip


@pytest.mark.slow
def test_every_customers_segment_is_published_to_bi(segmented: tuple[DataHome, Any]) -> None:
    from connectors.publisher import publish
    from tests.test_connectors_publish import read_hyper

    home, outcome = segmented
    db = connect(home.db_path)
    publish(home, db, full=True)
    stored = db.execute("SELECT count(*), sum(segment) FROM production_customer_segments"
                        ).fetchone()  # fmt: skip
    db.close()
    extract = home.dir("publish") / "models.hyper"
    published = read_hyper(extract, 'SELECT count(*), sum("segment"), min("version") FROM'
                                    ' "Extract"."customer_segments"')  # fmt: skip
    assert published == [[stored[0], stored[1], outcome.version.version]]
    assert stored[0] == outcome.entities > 0


@pytest.mark.slow
def test_segment_shares_are_monitored_for_drift(segmented: tuple[DataHome, Any]) -> None:
    import numpy as np

    from appliance.monitoring import measure_drift
    from appliance.monitoring.config import MonitoringConfig
    from appliance.monitoring.run import SEGMENT
    from tests.serving_fixtures import score_logged

    home, outcome = segmented
    db = connect(home.db_path)
    answers = score_logged(home, db, USECASE, _offers(home, db, 120))
    run = measure_drift(home, db, locate_spec(home, USECASE), MonitoringConfig(min_rows=20))
    rows = [f for w in run.drift for f in w.features if f.feature == SEGMENT]
    stored = db.execute("SELECT count(*) FROM drift_results WHERE feature = ?",
                        [SEGMENT]).fetchone()  # fmt: skip
    db.close()
    assert len(rows) == 1 and stored[0] >= 1
    psi = rows[0].metric("psi")
    assert psi is not None and psi.level in ("stable", "watch", "act")
    shares = np.bincount([a["segment"] for a in answers], minlength=outcome.artifact.k)
    assert psi.detail["window_shares"] == pytest.approx(list(shares / shares.sum()))
