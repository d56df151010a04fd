"""Who may call what, on the real service: every route (the OpenAPI paths, the schema
and its assets, unknown paths) against every kind of credential: a key of each role,
no key, a revoked key, malformed keys, a wrong secret for a real id, other schemes.
Refusals are 401 (with ``WWW-Authenticate: Bearer``) or 403 whose detail says why, and
no answer repeats the secret it was sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from appliance.access import ROLE_PERMISSIONS, revoke_key
from appliance.home import DataHome
from appliance.store.db import connect
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import APPLICANT, MODEL, Running, trained_home  # noqa: F401

pytestmark = pytest.mark.slow

ROUTES: dict[tuple[str, str], str | None] = {  # route -> permission; None = open; "any" = a key
    ("GET", "/health"): None,
    ("GET", "/ready"): "read",
    ("GET", "/metrics"): "read",
    ("GET", "/v1/models"): "read",
    ("GET", f"/v1/models/{MODEL}"): "read",
    ("POST", f"/v1/models/{MODEL}/score"): "score",
    ("POST", f"/v1/models/{MODEL}/score:batch"): "score",
    ("POST", "/v1/outcomes"): "outcomes",
    ("POST", f"/v1/models/{MODEL}/promote"): "admin",
    ("POST", f"/v1/models/{MODEL}/rollback"): "admin",
    ("GET", "/schema/openapi.json"): "any",
    ("GET", "/schema/swagger"): "any",
    ("GET", "/schema/assets/swagger-ui.css"): "any",
    ("GET", "/v1/nothing-here"): "unrouted",  # no route: 404 whoever asks, nothing else
    ("GET", "/health/x"): "unrouted",
    ("OPTIONS", f"/v1/models/{MODEL}/score"): "any",
}
BODIES: dict[str, Any] = {  # harmless bodies: an allowed call changes nothing
    "score": APPLICANT, "score:batch": [APPLICANT], "outcomes": [{"request_id": "r-0",
    "outcome": 1}], "promote": {}, "rollback": {},
}  # fmt: skip
SHAPE = "apk_0123456789ab_" + "A" * 43  # the right shape, an id nobody has


@pytest.fixture(scope="module")
def lab(trained_home: DataHome, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
        ) -> Iterator[tuple[Running, dict[str, str | None]]]:  # fmt: skip
    """The service and the Authorization header of each credential under test."""
    service = Running(copy_home(trained_home, tmp_path_factory.mktemp("sec") / "home"))
    db = connect(service.home.db_path)
    from appliance.access import create_key

    revoked_key, revoked = create_key(db, "admin", "to be revoked", actor="test")
    unused_key, unused = create_key(db, "admin", "revoked before first use", actor="test")
    assert service.call("GET", "/v1/models", headers={"Authorization": f"Bearer {revoked}"},
                        role=None).status_code == 200  # known to the running service first
    revoke_key(db, revoked_key.id, actor="test")
    revoke_key(db, unused_key.id, actor="test")
    db.close()
    time.sleep(2.3)  # the service re-reads a remembered key within 2 s
    admin = service.keys["admin"]
    wrong_secret = admin[:-1] + ("B" if admin[-1] != "B" else "C")
    headers: dict[str, str | None] = {
        **{role: f"Bearer {key}" for role, key in service.keys.items()},
        "lower-case scheme": f"bearer {service.keys['analyst']}",
        "no key": None,
        "revoked after use": f"Bearer {revoked}",
        "revoked before use": f"Bearer {unused}",
        "wrong secret": f"Bearer {wrong_secret}",
        "unknown id": f"Bearer {SHAPE}",
        "malformed": "Bearer apk_123",
        "key without scheme": admin,
        "basic scheme": "Basic YWRtaW46YWRtaW4=",
        "two keys": f"Bearer {admin}, Bearer {admin}",
        "empty": "",
        "sql in the key": "Bearer apk_0123456789ab_' OR '1'='1' --",
    }
    yield service, headers
    service.stop()


ROLE_OF = {"scorer": "scorer", "analyst": "analyst", "admin": "admin",
           "lower-case scheme": "analyst"}  # fmt: skip


def expected(permission: str | None, credential: str) -> int | None:
    """401/403 where refused; None where the call must get through to the route."""
    if permission is None:
        return None
    if permission == "unrouted":
        return 404
    role = ROLE_OF.get(credential)
    if role is None:
        return 401
    if permission == "any" or permission in ROLE_PERMISSIONS[role]:
        return None
    return 403


CREDENTIALS = [
    "scorer", "analyst", "admin", "lower-case scheme", "no key", "revoked after use",
    "revoked before use", "wrong secret", "unknown id", "malformed", "key without scheme",
    "basic scheme", "two keys", "empty", "sql in the key",
]  # fmt: skip


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_every_route_against_every_credential(
    lab: tuple[Running, dict[str, str | None]], credential: str
) -> None:
    service, headers = lab
    header = headers[credential]
    problems = []
    for (method, path), permission in ROUTES.items():
        body = BODIES.get(path.rsplit("/", 1)[-1]) if method == "POST" else None
        sent = {"Authorization": header} if header is not None else {}
        reply = service.call(method, path, role=None, headers=sent, json=body)
        want = expected(permission, credential)
        got = reply.status_code
        if want is None:
            ok = got not in (401, 403) and got < 500
        else:
            ok = got == want and bool(reply.json().get("detail"))
            if want == 401:
                ok = ok and reply.headers.get("www-authenticate") == "Bearer"
            if want == 404:
                ok = ok and reply.json()["detail"] == "Not Found"
            if want == 403:
                ok = ok and f"'{permission}' permission" in reply.json()["detail"]
        secret = (header or "").rsplit("_", 1)[-1]
        if len(secret) > 20 and secret in reply.text:
            problems.append(f"{method} {path}: the answer repeats the presented secret")
        if not ok:
            problems.append(f"{method} {path}: {got} (expected {want or 'allowed'}) "
                            f"{reply.text[:150]}")  # fmt: skip
    assert not problems, "\n".join(problems)


def test_the_table_covers_every_route_the_service_publishes(
    lab: tuple[Running, dict[str, str | None]],
) -> None:
    service, _ = lab
    spec = service.call("GET", "/schema/openapi.json", role="analyst").json()
    published = {(m.upper(), p.replace("{name}", MODEL)) for p, ops in spec["paths"].items()
                 for m in ops}  # fmt: skip
    assert published <= set(ROUTES)


def test_a_refused_admin_call_changes_nothing(lab: tuple[Running, dict[str, str | None]]) -> None:
    """A scorer's or a revoked key's promote never reaches the registry."""
    service, headers = lab
    db = connect(service.home.db_path)
    before = db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    for credential in ("scorer", "analyst", "revoked after use", "no key"):
        header = headers[credential]
        reply = service.call("POST", f"/v1/models/{MODEL}/promote", role=None,
                             headers={"Authorization": header} if header else {},
                             json={"version": 2, "reason": "let me in"})  # fmt: skip
        assert reply.status_code in (401, 403), (credential, reply.text)
    from appliance import registry

    assert registry.aliases(db, MODEL)["production"] == 1
    assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before
    db.close()
