"""`appliance doctor` on a fresh home, a trained one, and homes broken in known ways."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from appliance.doctor import CHECKS, Check, CheckResult, DoctorContext, ServiceLock, run_checks
from appliance.home import DataHome
from appliance.store.db import connect
from tests.lake_fixtures import build_demo_lake, copy_home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def use_ports(home: DataHome, api: int, flight: int) -> None:
    text = re.sub(r"(?m)^api_port = \d+", f"api_port = {api}", home.config_path.read_text())
    home.config_path.write_text(re.sub(r"(?m)^flight_port = \d+", f"flight_port = {flight}", text))


def doctor(home: DataHome, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    """Exit status and {check name: result} of `appliance --home HOME doctor --json`."""
    from appliance.cli.main import main

    capsys.readouterr()
    try:
        main(["--home", str(home.root), "doctor", "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    results = json.loads(capsys.readouterr().out)
    return code, {r["name"]: r for r in results}


@pytest.fixture
def fresh(home: DataHome) -> DataHome:
    use_ports(home, free_port(), free_port())
    return home


def test_a_fresh_home_passes(fresh: DataHome, capsys: pytest.CaptureFixture[str]) -> None:
    code, results = doctor(fresh, capsys)
    assert code == 0
    names = set(results)
    assert {"home", "config", "store", "schema", "audit", "models", "compiler",
            "imagery model"} <= names  # fmt: skip
    assert sum(n.startswith("port ") for n in names) == 2
    assert all(r["status"] in ("ok", "warn") for r in results.values())
    assert results["store"]["status"] == "ok" and "integrity check ok" in results["store"]["detail"]
    assert results["schema"]["detail"].startswith("migrations current")
    assert results["models"]["detail"] == "no model in production yet"


def test_the_plain_report_counts_and_colours_nothing_when_piped(
    run_cli,
    fresh: DataHome,  # type: ignore[no-untyped-def]
) -> None:
    out = run_cli("doctor")
    assert out.exit_code == 0
    assert out.stdout.splitlines()[-1].endswith("0 failure(s)")
    assert out.stdout.splitlines()[0].startswith("ok    home")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    """A demo lake with credit_default v1 trained, compiled and in production."""
    from appliance.registry import promote
    from appliance.training.run import train_usecase
    from appliance.usecase.locate import locate_spec

    home = build_demo_lake(tmp_path_factory.mktemp("doctor") / "home")
    db = connect(home.db_path)
    train_usecase(home, db, locate_spec(home, "credit_default"), actor="test")
    promote(db, "credit_default", 1, actor="test", reason="doctor tests")
    db.close()
    return home


@pytest.mark.slow
def test_a_trained_home_passes_and_a_tampered_booster_fails_by_name(
    trained: DataHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = copy_home(trained, tmp_path / "home")
    use_ports(home, free_port(), free_port())
    code, results = doctor(home, capsys)
    model = results["model credit_default/1"]
    assert code == 0
    compiled = (
        connect(home.db_path)
        .execute("SELECT json_extract(compile, '$.status') FROM model_versions")
        .fetchone()[0]
    )
    if compiled == "ok":
        assert (model["name"], model["status"]) == ("model credit_default/1", "ok")
        assert model["detail"].startswith("compiled (o1")
        assert "test rows match XGBoost" in model["detail"] and "reasons add up" in model["detail"]
    else:  # no C compiler where this runs
        assert model["status"] == "warn" and "serving through XGBoost" in model["detail"]
    booster = home.root / "models" / "credit_default" / "1" / "model.ubj"
    data = bytearray(booster.read_bytes())
    data[len(data) // 2] ^= 0xFF
    booster.write_bytes(bytes(data))
    code, results = doctor(home, capsys)
    model = results["model credit_default/1"]
    assert code == 1 and model["status"] == "fail"
    assert "was changed after registration" in model["detail"]


def test_a_store_that_is_not_a_database_fails_and_says_restore(
    fresh: DataHome, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh.db_path.open("r+b") as store:
        store.write(b"this is not SQLite" * 8)
    for side in ("-wal", "-shm"):
        Path(f"{fresh.db_path}{side}").unlink(missing_ok=True)
    code, results = doctor(fresh, capsys)
    assert code == 1
    store = results["store"]
    assert store["status"] == "fail" and "file is not a database" in store["detail"]
    assert "appliance restore" in store["detail"]
    for name in ("schema", "audit", "models"):
        assert results[name]["status"] == "warn" and "not checked" in results[name]["detail"]


def test_an_edited_audit_entry_fails(fresh: DataHome, capsys: pytest.CaptureFixture[str]) -> None:
    db = connect(fresh.db_path)
    from appliance import audit

    audit.record(db, "tester", "test.thing", "x", {})
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    db.close()
    code, results = doctor(fresh, capsys)
    assert code == 1
    assert results["audit"]["detail"].startswith("the audit chain breaks at entry 1")


def test_a_missing_folder_and_a_broken_config_are_named(
    fresh: DataHome, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(fresh.dir("lake"))
    fresh.config_path.write_text(fresh.config_path.read_text() + "\n[jobs.extra]\nevery = 5\n")
    code, results = doctor(fresh, capsys)
    assert code == 1
    assert results["home"]["status"] == "fail" and "lacks lake" in results["home"]["detail"]
    assert results["config"]["status"] == "fail"
    assert "[jobs.extra]: no job kind 'extra'" in results["config"]["detail"]
    assert results["ports"] == {"name": "ports", "status": "warn",
                                "detail": "not checked: appliance.toml does not load"}  # fmt: skip


def test_a_port_held_by_another_program_fails_unless_appliance_up_holds_it(
    fresh: DataHome, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        use_ports(fresh, port, free_port())
        code, results = doctor(fresh, capsys)
        held = results[f"port {port}"]
        assert code == 1 and held["status"] == "fail"
        assert "change [service] api_port in appliance.toml" in held["detail"]
        lock = ServiceLock(fresh)
        lock.acquire({"pid": 4242, "started_at": "now"})
        try:
            code, results = doctor(fresh, capsys)
        finally:
            lock.release()
        assert code == 0
        assert results[f"port {port}"]["detail"].endswith("held by the running appliance up "
                                                          "(pid 4242)")  # fmt: skip


def test_a_check_that_crashes_fails_alone_and_adding_one_is_one_entry(home: DataHome) -> None:
    def explodes(ctx: DoctorContext) -> CheckResult:
        raise KeyError("surprise")

    def self_test(ctx: DoctorContext) -> CheckResult:
        return CheckResult("self-test", "ok", "scored one record")

    checks = [CHECKS[0], Check("explodes", explodes), Check("self-test", self_test)]
    results = run_checks(DoctorContext(home), checks)
    assert [(r.name, r.status) for r in results] == [
        ("home", "ok"), ("explodes", "fail"), ("self-test", "ok"),
    ]  # fmt: skip
    assert results[1].detail == "KeyError: 'surprise'"
    with pytest.raises(ValueError, match="status must be one of"):
        CheckResult("x", "fine", "")


def test_the_doctor_never_creates_a_store(tmp_path: Path) -> None:
    empty = DataHome(tmp_path / "nothing")
    results = run_checks(DoctorContext(empty), CHECKS)
    by_name = {r.name: r for r in results}
    assert by_name["home"].status == "fail" and "appliance" in by_name["home"].detail
    assert not empty.db_path.exists()
