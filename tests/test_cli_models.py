from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlite_utils import Database

from appliance.home import DataHome
from tests.conftest import CliOutcome
from tests.test_registry import add_version, make_metrics

Run = Callable[..., CliOutcome]


@pytest.fixture
def two_versions(db: Database, home: DataHome) -> Database:
    add_version(db, home)
    add_version(db, home, make_metrics(auc=0.83, champion=(1, 0.80), fairness=False))
    return db


def test_list_without_models_says_how_to_get_one(run_cli: Run) -> None:
    outcome = run_cli("models", "list")
    assert outcome.exit_code == 0 and "appliance train" in outcome.stdout


def test_list_shows_versions_aliases_and_key_metric(run_cli: Run, two_versions: Database) -> None:
    assert run_cli("models", "promote", "credit", "1", "--reason", "first").exit_code == 0
    lines = run_cli("models", "list").stdout.splitlines()
    assert lines[0].startswith("credit  (use case credit)")
    assert "v1" in lines[1] and "roc_auc 0.8000" in lines[1] and "production" in lines[1]
    assert "v2" in lines[2] and "roc_auc 0.8300" in lines[2]


def test_show_defaults_to_latest_then_production(
    run_cli: Run, two_versions: Database, home: DataHome
) -> None:
    latest = run_cli("models", "show", "credit")
    assert latest.exit_code == 0 and latest.stdout.startswith("credit v2  registered")
    assert "c0ffee" in latest.stdout and "2023-01-01 .. 2023-12-31" in latest.stdout
    assert str(home.root / "models" / "credit" / "2" / "model_card.html") in latest.stdout
    assert "max_depth=2" in latest.stdout and "fairness    FAILED" in latest.stdout
    assert "against no production version: FAIL" in latest.stdout
    run_cli("models", "promote", "credit", "1", "--reason", "first")
    production = run_cli("models", "show", "credit")
    assert production.stdout.startswith("credit v1  registered  (production)")
    gates = run_cli("models", "show", "credit", "2").stdout
    assert "against production v1: FAIL" in gates and "FAIL  fairness" in gates


def test_compare_is_a_table_with_differences(run_cli: Run, two_versions: Database) -> None:
    outcome = run_cli("models", "compare", "credit", "1", "2")
    assert outcome.exit_code == 0
    header, *rows = outcome.stdout.splitlines()
    assert header.split() == ["metric", "v1", "v2", "B", "-", "A"]
    auc = next(row for row in rows if row.startswith("test.roc_auc"))
    assert auc.split() == ["test.roc_auc", "0.8", "0.83", "+0.03"]


def test_promote_prints_the_gates_and_refuses_with_exit_7(
    run_cli: Run, two_versions: Database
) -> None:
    assert run_cli("models", "promote", "credit", "1", "--reason", "first").exit_code == 0
    refused = run_cli("models", "promote", "credit", "2", "--reason", "better auc")
    assert refused.exit_code == 7
    assert "PASS  performance" in refused.stdout and "FAIL  fairness" in refused.stdout
    assert "refused" in refused.stderr and "Traceback" not in refused.stderr
    forced = run_cli(
        "models", "promote", "credit", "v2", "--reason", "better auc",
        "--override-fairness", "reviewed by model risk",
    )  # fmt: skip
    assert forced.exit_code == 0 and "WARN  fairness" in forced.stdout
    assert "credit v2 is now production (was v1)" in forced.stdout


def test_rollback_and_reject_through_the_cli(
    run_cli: Run, two_versions: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLIANCE_ACTOR", "alice")
    run_cli("models", "promote", "credit", "1", "--reason", "first")
    run_cli("models", "promote", "credit", "2", "--reason", "x", "--override-fairness", "ok")
    back = run_cli("models", "rollback", "credit", "--reason", "complaints")
    assert back.exit_code == 0 and "from v2 to v1" in back.stdout
    again = run_cli("models", "rollback", "credit", "--reason", "again")
    assert again.exit_code == 7 and "first production version" in again.stderr
    assert run_cli("models", "reject", "credit", "2", "--reason", "unfair").exit_code == 0
    assert "[rejected]" in run_cli("models", "list").stdout
    actors = {row[0] for row in two_versions.execute(
        "SELECT actor FROM audit_log WHERE action LIKE 'model.%' AND action != 'model.register'"
    )}  # fmt: skip
    assert actors == {"alice"}
    assert run_cli("audit", "verify").exit_code == 0


def test_user_mistakes_get_a_message_and_an_exit_code(run_cli: Run, two_versions: Database) -> None:
    unknown = run_cli("models", "show", "ghost")
    assert unknown.exit_code == 3 and "known models: credit" in unknown.stderr
    no_alias = run_cli("models", "show", "credit", "challenger")
    assert no_alias.exit_code == 3 and "versions: 1, 2" in no_alias.stderr
    missing_reason = run_cli("models", "promote", "credit", "1")
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.stderr
