"""Key secrets stay secret: `appliance serve` runs as a process of its own with its log
captured; requests come with good, wrong, revoked and malformed keys and bad bodies;
afterwards no secret (nor any key presented) appears in the service's log, in any
answer, in the prediction log, or in any byte of the data home (store, WAL, logs, lake).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from appliance.access import create_key, revoke_key
from appliance.home import DataHome
from appliance.store.db import connect
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import APPLICANT, MODEL, Server, predictions, trained_home  # noqa: F401

pytestmark = pytest.mark.slow


def test_no_key_secret_reaches_a_log_an_answer_or_the_store(
    trained_home: DataHome, tmp_path: Path  # noqa: F811
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    db = connect(home.db_path)
    keys = {role: create_key(db, role, f"{role} key", actor="test") for role in
            ("scorer", "analyst", "admin")}  # fmt: skip
    gone, gone_secret = create_key(db, "scorer", "revoked", actor="test")
    revoke_key(db, gone.id, actor="test")
    db.close()
    scorer_id, scorer = keys["scorer"][0].id, keys["scorer"][1]
    presented = [secret for _, secret in keys.values()] + [gone_secret]
    wrong = scorer[:-4] + "abcd"
    presented.append(wrong)
    server = Server(home, tmp_path / "serve.log")
    answers: list[str] = []
    try:
        def ask(method: str, path: str, secret: str | None, **kw: object) -> httpx.Response:
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            reply = httpx.request(method, server.url + path, headers=headers, timeout=30,
                                  **kw)  # type: ignore[arg-type]  # fmt: skip
            answers.append(reply.text + json.dumps(dict(reply.headers)))
            return reply

        score = f"/v1/models/{MODEL}/score"
        served = [ask("POST", score, scorer, json={**APPLICANT, "application_id": f"AP900000{i}"})
                  for i in range(5)]  # fmt: skip
        assert all(r.status_code == 200 for r in served)
        assert ask("POST", score, scorer, json={**APPLICANT, "term_months": "x"}).status_code == 422
        assert ask("POST", score, scorer, content=b"{").status_code == 400
        assert ask("POST", score, wrong, json=APPLICANT).status_code == 401
        assert ask("POST", score, gone_secret, json=APPLICANT).status_code == 401
        assert ask("GET", "/v1/models", f"{scorer} {scorer}").status_code == 401
        assert ask("GET", "/metrics", keys["analyst"][1]).status_code == 200
        assert ask("POST", f"/v1/models/{MODEL}/rollback", keys["admin"][1],
                   json={"reason": "no earlier version"}).status_code == 409  # fmt: skip
        assert ask("POST", "/v1/outcomes", scorer, json=[
            {"request_id": served[0].json()["request_id"], "outcome": 1}]).status_code == 200
    finally:
        assert server.stop() == 0  # a graceful stop on SIGTERM exits with status 0
    log = server.log()
    assert "serving on http://127.0.0.1" in log  # the capture works
    rows = predictions(home)
    assert len([r for r in rows if r["served"]]) == 5
    assert {r["key_id"] for r in rows} == {scorer_id}  # the public id, never the secret
    stored = json.dumps(rows) + "".join(answers) + log
    files = b"".join(p.read_bytes() for p in home.root.rglob("*") if p.is_file())
    for secret in presented:
        tail = secret.rsplit("_", 1)[-1]
        assert tail not in stored, "a key secret leaked into a log, an answer or a prediction"
        assert tail.encode() not in files, "a key secret is stored in the data home"

