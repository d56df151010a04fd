"""Hostile input: SQL injection through the REST fields, path traversal through names
and the inbox, and model files the appliance did not write (a pickle, a tampered
booster). Each is refused or treated as a plain value, and the store is left as it was.

Covered elsewhere and not repeated here: a booster whose bytes changed after
registration (tests/test_registry.py::test_a_tampered_booster_is_refused,
tests/test_doctor.py), a compiled library whose hash does not match
(tests/test_compiled_models.py::test_a_changed_library_is_never_loaded,
tests/test_scoring.py), edited, deleted and truncated audit entries
(tests/test_audit.py), `--source ../../etc/passwd` (tests/test_cli.py).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import audit, registry
from appliance.errors import ArtifactTampered
from appliance.home import DataHome
from appliance.scoring import load_scorer
from appliance.store.db import connect
from tests.conftest import CliOutcome
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import (  # noqa: F401
    APPLICANT,
    MODEL,
    Running,
    register_copy,
    trained_home,
    until,
)

INJECTIONS = ["x' OR 1=1 --", "'; DROP TABLE predictions; --", "\" OR \"\"=\"",
              "1; DELETE FROM audit_log", "CR0000007' UNION SELECT key_hash FROM api_keys --",
              "%' OR '%'='"]  # fmt: skip
TABLES = ("predictions", "outcomes", "audit_log", "api_keys", "model_versions", "model_aliases",
          "alias_events")


def counts(home: DataHome) -> dict[str, int]:
    db = connect(home.db_path)
    try:
        present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in TABLES if t in present}  # fmt: skip
    finally:
        db.close()


@pytest.fixture(scope="module")
def service(trained_home: DataHome, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
            ) -> Iterator[Running]:  # fmt: skip
    running = Running(copy_home(trained_home, tmp_path_factory.mktemp("inj") / "home"))
    yield running
    running.stop()


@pytest.mark.slow
@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_in_rest_fields_is_only_ever_a_value(service: Running, text: str) -> None:
    before = counts(service.home)
    for field in ("customer_id", "application_id", "application_date"):
        reply = service.score({**APPLICANT, field: text})
        assert reply.status_code == 422, reply.text
        assert field in {p["field"] for p in reply.json()["problems"]}
    nested = service.score({**APPLICANT, "customer": {"customer_id": "CR0000007", "region": text,
                            "birth_date": "1990-01-01", "income_band": "2k_4k"}})  # fmt: skip
    assert nested.status_code == 422 and "customer.region" in nested.text
    assert service.call("POST", f"/v1/models/{text}/score", json=APPLICANT).status_code == 404
    assert service.call("GET", f"/v1/models/{text}", role="analyst").status_code == 404
    promote = service.call("POST", f"/v1/models/{text}/promote", role="admin",
                           json={"version": 2, "reason": text})  # fmt: skip
    assert promote.status_code == 404, promote.text
    outcome = service.call("POST", "/v1/outcomes", json=[
        {"request_id": text, "outcome": 1}, {"application_id": text, "model": text, "outcome": 0},
    ])  # fmt: skip
    assert outcome.status_code == 200 and outcome.json()["accepted"] == 0
    assert len(outcome.json()["rejected"]) == 2
    batch = service.call("POST", f"/v1/models/{MODEL}/score:batch",
                         json=[{**APPLICANT, "customer_id": text}, APPLICANT])  # fmt: skip
    assert batch.json()["scored"] == 1 and batch.json()["rejected"] == 1
    until(lambda: counts(service.home)["predictions"] == before["predictions"] + 1, 5)
    after = counts(service.home)
    assert after == {**before, "predictions": before["predictions"] + 1}


@pytest.mark.slow
def test_sql_in_free_text_is_stored_verbatim_and_changes_nothing_else(service: Running) -> None:
    """The reason of a promotion is free text: it is kept as written, in the audit log."""
    text = "'); DROP TABLE audit_log; UPDATE model_aliases SET version = 99; --"
    reply = service.call("POST", f"/v1/models/{MODEL}/promote", role="admin",
                         json={"version": 2, "reason": text, "alias": "shadow"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    db = connect(service.home.db_path)
    try:
        assert registry.aliases(db, MODEL) == {"production": 1, "shadow": 2}
        [details] = db.execute("SELECT details FROM audit_log WHERE action = 'model.assign' "
                               "ORDER BY seq DESC LIMIT 1").fetchone()  # fmt: skip
        assert text.replace("'", "") in details.replace("'", "")
        assert audit.verify(db).ok
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


# -- path traversal -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "{data}", "--source", "../sources/credit_applications"],
        ["ingest", "{data}", "--source", "/etc/passwd"],
        ["ingest", "{data}", "--source", ".."],
        ["ingest", "{data}", "--source", "credit_applications/../../../x"],
        ["ingest", "{data}", "--source", "..%2f..%2fetc%2fpasswd"],
        ["ingest", "{data}", "--source", "a\\..\\..\\b"],
        ["ingest", "{data}", "--schema", "{escape}"],
        ["datasets", "../../etc"],
        ["profile", "../../etc/passwd", "--target", "x"],
        ["train", "../../../../etc/passwd"],
        ["models", "show", "../../x"],
    ],
)  # fmt: skip
def test_names_cannot_walk_out_of_the_home(
    run_cli: Callable[..., CliOutcome], home: DataHome, tmp_path: Path, args: list[str]
) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    escape = tmp_path / "escape.toml"  # a schema whose dataset name climbs out of lake/
    escape.write_text('name = "../../outside"\n[[columns]]\nname = "a"\ntype = "int"\n')
    before = sorted(p for p in tmp_path.rglob("*") if home.root not in p.parents)
    outcome = run_cli(*[a.format(data=data, escape=escape) for a in args])
    assert outcome.exit_code != 0, outcome
    assert "Traceback" not in outcome.stderr and outcome.stderr.strip(), outcome
    assert len(outcome.stderr.strip().splitlines()) <= 3, outcome.stderr
    after = sorted(p for p in tmp_path.rglob("*") if home.root not in p.parents)
    assert after == before  # nothing written outside the home
    assert not list(home.root.rglob("outside*"))


def test_a_symlink_in_the_inbox_is_not_followed_out_of_the_home(
    run_cli: Callable[..., CliOutcome], home: DataHome, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "tls-key.pem"
    secret.parent.mkdir()
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\nTOP-SECRET-BYTES\n-----END KEY-----\n")
    (home.dir("inbox") / "credit_applications_evil.csv").symlink_to(secret)
    said = run_cli("ingest")
    assert "symbolic link" in said.stderr and "not followed" in said.stderr
    leaked = [p for p in home.root.rglob("*") if p.is_file() and not p.is_symlink()
              and b"TOP-SECRET-BYTES" in p.read_bytes()]  # fmt: skip
    assert secret.exists()
    assert leaked == [], f"the linked file was copied into the home: {leaked}"


# -- model files the appliance did not write ----------------------------------------------

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"appliance-pickle-ran-{os.getpid()}"


class _Payload:
    """Unpickling this runs code: it creates MARKER. It must never run."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (MARKER,))


def _booster(kind: str) -> bytes:
    if kind == "pickle":
        return pickle.dumps(_Payload())
    return b'{"learner": {"gradient_booster": {"model": {"trees": "__import__(\'os\')"}}}}'


def test_a_booster_that_does_not_parse_is_refused_as_tampered(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    version = register_copy(home, booster=_booster("pickle"), actor="attacker")
    db = connect(home.db_path)
    try:
        with pytest.raises(ArtifactTampered, match="booster does not load"):
            load_scorer(home, db, MODEL, str(version))
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pickle", "tampered json"])
def test_a_model_file_the_appliance_did_not_write_never_loads_and_the_last_good_serves(
    trained_home: DataHome, tmp_path: Path, kind: str  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    MARKER.unlink(missing_ok=True)
    version = register_copy(home, booster=_booster(kind), actor="attacker")
    db = connect(home.db_path)
    with pytest.raises(ArtifactTampered):
        load_scorer(home, db, MODEL, str(version))
    db.close()
    service = Running(home)
    try:
        promoted = service.call("POST", f"/v1/models/{MODEL}/promote", role="admin",
                                json={"version": version, "reason": "swap it"})  # fmt: skip
        assert promoted.status_code == 409, promoted.text  # the registry refuses to move it
        assert "booster does not load" in promoted.json()["detail"]
        for _ in range(5):  # the last good one serves
            reply = service.score(APPLICANT)
            assert reply.status_code == 200 and reply.json()["version"] == 1
            ready = service.call("GET", "/ready", role="analyst").json()
            assert ready["models"][MODEL]["production"] == 1
    finally:
        service.stop()
    assert not MARKER.exists(), "the pickle was unpickled"
    db = connect(home.db_path)
    try:
        assert registry.aliases(db, MODEL) == {"production": 1}
        (action,) = db.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        assert action == "model.promotion_refused" and audit.verify(db).ok
    finally:
        db.close()
