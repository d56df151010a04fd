"""Monitoring on a trained demo lake whose predictions went through the real serving
engine and prediction log: the demo's shifted months against a window drawn from the
training distribution, skew, realised performance from posted outcomes, fairness, the
report, the CLI and the scheduler's jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlite_utils import Database

from appliance.home import DataHome
from appliance.monitoring import MonitoringConfig, NoPredictions, measure_drift
from appliance.monitoring.run import MonitorRun, measure_performance
from appliance.store.db import connect
from appliance.usecase.locate import locate_spec
from tests.lake_fixtures import build_demo_lake, copy_home, train_credit
from tests.monitoring_fixtures import score_rows

pytestmark = pytest.mark.slow

SHIFTED = ("requested_amount", "income_band", "drought_months_1y")
STABLE = ("term_months", "tenure_months")
MONTH = MonitoringConfig(window="month")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    home = build_demo_lake(tmp_path_factory.mktemp("monitoring") / "home")
    train_credit(home)
    return home


@pytest.fixture(scope="module")
def shifted(trained: DataHome, tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    """The shifted quarter (2025-04 .. 06) scored and logged at its application dates."""
    home = copy_home(trained, tmp_path_factory.mktemp("shifted") / "home")
    assert score_rows(home, since="2025-04-01", until="2025-06-30") > 300
    return home


@pytest.fixture
def store(shifted: DataHome, tmp_path: Path) -> Iterator[tuple[DataHome, Database]]:
    home = copy_home(shifted, tmp_path / "home")
    db = connect(home.db_path)
    yield home, db
    db.close()


def _drift(home: DataHome, db: Database, config: MonitoringConfig = MONTH) -> MonitorRun:
    return measure_drift(home, db, locate_spec(home, "credit_default"), config)


def test_shifted_months_reach_act_on_the_shifted_features_only(
    store: tuple[DataHome, Database],
) -> None:
    home, db = store
    run = _drift(home, db)
    assert [w.window.label for w in run.drift] == ["2025-04", "2025-05", "2025-06"]
    for window in run.drift:
        acting = set(window.at_level("act"))
        assert set(SHIFTED) <= acting, window.window.label
        assert not acting & set(STABLE), window.window.label
        assert window.rows >= 100
    stored = db.execute("SELECT count(*), count(DISTINCT window_start) FROM drift_results "
                        "WHERE kind = 'drift' AND metric = 'psi'").fetchone()  # fmt: skip
    assert stored[1] == 3 and stored[0] == 3 * 35  # 34 features and the score per month
    alerts = db.execute("SELECT subject, level, retrain_requested FROM alerts "
                        "WHERE kind = 'drift'").fetchall()  # fmt: skip
    assert {s for s, _, _ in alerts} >= set(SHIFTED)
    assert all(level == "act" and retrain for _, level, retrain in alerts)
    assert not {s for s, _, _ in alerts} & set(STABLE)


def test_a_window_drawn_from_training_alerts_nothing(
    trained: DataHome, tmp_path: Path
) -> None:
    home = copy_home(trained, tmp_path / "home")
    score_rows(home, since="2024-01-01", until="2024-10-07", sample=500, on=date(2026, 3, 10))
    db = connect(home.db_path)
    run = _drift(home, db)
    (window,) = run.drift
    assert window.rows == 500 and window.window.label == "2026-03"
    assert window.at_level("act") == [] and run.new_alerts == []
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    assert window.score is not None and window.score.level == "stable"
    skew = {d.feature: d.value("skew_mismatch") for d in window.skew}
    assert len(skew) == 34 and set(skew.values()) == {0.0}  # serving == the training pipeline


def test_measuring_again_updates_in_place_and_does_not_repeat_alerts(
    store: tuple[DataHome, Database],
) -> None:
    home, db = store
    first = _drift(home, db)
    rows = db.execute("SELECT count(*), max(id) FROM drift_results").fetchone()
    again = _drift(home, db)
    assert first.new_alerts and again.new_alerts == []
    assert db.execute("SELECT count(*), max(id) FROM drift_results").fetchone() == rows
    assert db.execute("SELECT min(occurrences) FROM alerts").fetchone()[0] == 2


def test_a_window_without_predictions_is_a_clear_error(store: tuple[DataHome, Database]) -> None:
    home, db = store
    with pytest.raises(NoPredictions, match=r"no predictions of 'credit_default' in month "
                       r"2024-02 .*run from 2025-04-\d\d to 2025-06-\d\d"):  # fmt: skip
        measure_drift(home, db, locate_spec(home, "credit_default"), MONTH, at="2024-02-10")


def _post_outcomes(home: DataHome, db: Database, *, flip: bool = False) -> None:
    """The lake's own outcomes for every logged prediction, posted like the REST API."""
    from appliance.lake import read_dataset
    from appliance.serving.outcomes import record_outcomes

    table = read_dataset(home, db, "credit_applications")
    truth = dict(zip(table.column("application_id").to_pylist(),
                     table.column("defaulted").to_pylist(), strict=True))  # fmt: skip
    ids = [r[0] for r in db.execute("SELECT DISTINCT application_id FROM predictions")]
    items = [{"application_id": a, "model": "credit_default",
              "outcome": (1 - truth[a]) if flip else truth[a], "observed_at": "2026-01-01"}
             for a in ids]  # fmt: skip
    items += [{"request_id": "r-unknown", "outcome": 1}]  # rejected, not stored
    report = record_outcomes(db, items, key_id=None, actor="test", today=date(2026, 6, 1))
    assert len(report.rejected) == 1 and "r-unknown" in report.rejected[0].reason


def test_performance_is_estimated_then_realised_from_outcomes(
    store: tuple[DataHome, Database],
) -> None:
    home, db = store
    spec = locate_spec(home, "credit_default")
    before = measure_performance(home, db, spec, MONTH)
    for w in before.performance:
        assert w.labelled == 0
        assert {(f.metric, f.estimated) for f in w.figures if f.value is not None} >= {
            ("roc_auc", True), ("bad_rate", True), ("approval_rate", False)}  # fmt: skip
    _post_outcomes(home, db)
    _post_outcomes(home, db)  # duplicated outcomes change nothing
    after = measure_performance(home, db, spec, MonitoringConfig(window="month", min_labels=50))
    for w in after.performance:
        figures = {(f.metric, f.estimated): f.value for f in w.figures}
        assert w.labelled == w.rows
        assert 0.5 < figures[("roc_auc", False)] <= 1.0
        assert figures[("bad_rate", False)] > 0.1  # the shifted population defaults more
    stored = db.execute("SELECT count(*) FROM performance_results WHERE metric = 'roc_auc' "
                        "AND estimated = 0 AND value IS NOT NULL").fetchone()[0]  # fmt: skip
    assert stored == 3


def test_a_performance_drop_raises_an_act_alert_that_requests_a_retrain(
    store: tuple[DataHome, Database],
) -> None:
    home, db = store
    _post_outcomes(home, db, flip=True)  # outcomes opposite to the truth: AUC collapses
    run = measure_performance(home, db, locate_spec(home, "credit_default"),
                              MonitoringConfig(window="month", min_labels=50))  # fmt: skip
    drops = [a for a in run.new_alerts if a.metric == "auc_drop"]
    assert len(drops) == 3 and all(a.level == "act" and a.retrain_requested for a in drops)


def test_fairness_per_window_from_the_lake(store: tuple[DataHome, Database]) -> None:
    home, db = store
    run = measure_performance(home, db, locate_spec(home, "credit_default"), MONTH)
    rows = db.execute("SELECT attribute, group_name, rows FROM fairness_results "
                      "WHERE window_start = '2025-04-01'").fetchall()  # fmt: skip
    attributes = {a for a, _, _ in rows}
    assert attributes == {"gender", "age_band"}
    assert {g for a, g, _ in rows if a == "gender"} == {"F", "M"}
    assert sum(n for a, _, n in rows if a == "gender") == run.performance[0].rows
    assert "missing" not in {g for _, g, _ in rows}  # every applicant found in the lake


def test_the_report_is_self_contained(
    store: tuple[DataHome, Database], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli.main import main

    home, _ = store
    out = tmp_path / "report.html"
    main(["--home", str(home.root), "monitor", "credit_default", "--window", "month",
          "--out", str(out)])  # fmt: skip
    assert f"report: {out}" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4  # drift, score, performance, fairness
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    for title in ("Drift over time", "Score distribution now vs reference",
                  "Performance over time", "Fairness over time", "Alerts"):  # fmt: skip
        assert title in html
    assert "requested_amount" in html and 'class="act"' in html


def test_cli_drift_prints_the_latest_window(
    store: tuple[DataHome, Database], capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli.main import main

    home, _ = store
    for args, code in ((["drift", "credit_default", "--window", "month"], 0),
                       (["drift", "credit_default", "--at", "2024-01-01"], 3),
                       (["drift", "credit_default", "--at", "April"], 4),
                       (["drift", "no_such_usecase"], 3)):  # fmt: skip
        capsys.readouterr()
        try:
            main(["--home", str(home.root), *args])
            result = 0
        except SystemExit as exc:
            result = int(exc.code or 0)
        captured = capsys.readouterr()
        assert result == code, captured.err
        if code == 0:
            assert "month 2025-06" in captured.out and "requested_amount" in captured.out
            assert "new alert(s)" in captured.out
        else:
            assert captured.err.startswith("error: ") and "Traceback" not in captured.err


def test_the_drift_job_runs_in_a_worker_and_reports_alerts(shifted: DataHome,
                                                            tmp_path: Path) -> None:  # fmt: skip
    from scheduler.config import parse_config
    from scheduler.runner import Runner

    home = copy_home(shifted, tmp_path / "home")
    config = parse_config({"jobs": {
        "drift": {"every": "1d", "params": {"usecases": ["credit_default"], "window": "month"}},
        "performance": {"every": "1d", "params": {"window": "month"}},
    }}, "test config")  # fmt: skip
    runner = Runner(home, config)
    drift = runner.run_now("drift")
    assert drift.status == "ok", drift.error
    assert "credit_default:" in drift.summary and "retrain requested" in drift.summary
    performance = runner.run_now("performance")
    assert performance.status == "ok", performance.error
    assert "card_fraud: skipped" in performance.summary  # no predictions for that model
