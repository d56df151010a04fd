"""Bearer keys and role guards in a real Litestar app: through Litestar's ASGI test
client, and through a real uvicorn server on loopback (HTTP and HTTPS)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar, Request, get, post
from litestar.testing import TestClient

from appliance.access import (
    PERMISSIONS,
    ROLES,
    ApiKey,
    KeyCache,
    create_key,
    revoke_key,
    role_allows,
)
from appliance.access.tls import self_signed, write_pair
from appliance.serving.auth import auth_middleware, bearer_key, current_key, requires
from appliance.store.db import connect

ROUTES = {"score": "/v1/score", "outcomes": "/v1/outcomes", "read": "/v1/models",
          "admin": "/v1/admin"}  # fmt: skip


def build_app(cache: KeyCache, open_paths: tuple[str, ...] = ("/health",)) -> Litestar:
    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/v1/health", guards=[requires("read")])
    async def not_the_open_health() -> dict[str, str]:
        return {"status": "guarded"}

    def whoami(request: Request[Any, Any, Any]) -> dict[str, str]:
        key = current_key(request)
        return {"key": key.id, "role": key.role, "auth": str(request.auth)}

    handlers = [health, not_the_open_health]
    for permission, path in ROUTES.items():
        route = post if permission == "score" else get
        handlers.append(route(path, guards=[requires(permission)], name=permission,
                              sync_to_thread=False)(whoami))
    return Litestar(handlers, middleware=[auth_middleware(cache, open_paths=open_paths)])


@dataclass
class Lab:
    path: Path
    cache: KeyCache
    keys: dict[str, tuple[ApiKey, str]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    path = tmp_path_factory.mktemp("auth") / "appliance.db"
    db = connect(path)
    keys = {role: create_key(db, role, f"{role} key", actor="t") for role in ROLES}
    db.close()
    cache = KeyCache(path, recheck_s=0.2)
    yield Lab(path, cache, keys)
    cache.close()


@pytest.fixture(scope="module")
def client(lab: Lab) -> Iterator[TestClient[Litestar]]:
    with TestClient(build_app(lab.cache)) as test_client:
        yield test_client


def call(client: TestClient[Litestar], permission: str, header: str | None) -> Any:
    # bytes, so any octet reaches the server as sent (httpx would refuse non-ASCII text)
    headers = {"Authorization": header.encode("latin-1")} if header is not None else {}
    method = client.post if permission == "score" else client.get
    return method(ROUTES[permission], headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_each_role_reaches_exactly_its_routes(client: TestClient[Litestar], lab: Lab,
                                              role: str, permission: str) -> None:
    key, plaintext = lab.keys[role]
    response = call(client, permission, f"Bearer {plaintext}")
    if role_allows(role, permission):
        assert response.status_code in (200, 201)
        assert response.json() == {"key": key.id, "role": role, "auth": key.id}
    else:
        assert response.status_code == 403
        detail = response.json()["detail"]
        assert f"role '{role}'" in detail and f"'{permission}' permission" in detail
        assert response.json()["status_code"] == 403


@pytest.mark.parametrize(
    ("header", "says"),
    [(None, "missing API key"), ("Basic dXNlcjpwdw==", "Bearer scheme"),
     ("Bearer", "Bearer scheme"), ("Bearer apk_123", "malformed API key"),
     ("Bearer apk_0123456789ab_" + "A" * 43, "invalid or revoked")],
)
def test_no_valid_key_is_a_401_that_says_why(client: TestClient[Litestar], header: str | None,
                                             says: str) -> None:
    response = call(client, "read", header)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status_code"] == 401 and says in body["detail"]


def test_the_scheme_is_case_insensitive(client: TestClient[Litestar], lab: Lab) -> None:
    assert call(client, "read", f"bEARER {lab.keys['analyst'][1]}").status_code == 200


def test_two_authorization_headers_are_refused(client: TestClient[Litestar], lab: Lab) -> None:
    plaintext = lab.keys["admin"][1]
    response = client.get("/v1/models", headers=[("Authorization", f"Bearer {plaintext}"),
                                                 ("Authorization", f"Bearer {plaintext}")])
    assert response.status_code == 401 and "exactly one" in response.json()["detail"]


def test_only_the_exact_open_paths_are_open(client: TestClient[Litestar]) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/v1/health").status_code == 401
    assert client.options("/v1/models").status_code == 401


def test_open_paths_must_be_paths(lab: Lab) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        auth_middleware(lab.cache, open_paths=("health",))
    with pytest.raises(ValueError, match="unknown permission"):
        requires("delete")


def test_a_guard_on_an_open_path_asks_for_a_key(lab: Lab) -> None:
    @get("/open", guards=[requires("read")])
    async def opened() -> str:
        return "no"

    app = Litestar([opened], middleware=[auth_middleware(lab.cache, open_paths=("/open",))])
    with TestClient(app) as test_client:
        response = test_client.get("/open")
    assert response.status_code == 401 and "needs an API key" in response.json()["detail"]


_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=90)


@settings(max_examples=150, deadline=None)
@given(header=_HEADER_TEXT | _HEADER_TEXT.map(lambda t: f"Bearer {t}")
       | st.from_regex(r"Bearer apk_[0-9a-f]{12}_[0-9A-Za-z]{43}", fullmatch=True))
def test_malformed_headers_never_500_and_never_authenticate(client: TestClient[Litestar],
                                                            header: str) -> None:
    response = call(client, "read", header)
    assert response.status_code == 401, response.text
    assert response.json()["status_code"] == 401


@settings(max_examples=10, deadline=None)
@given(position=st.integers(4, 59), replacement=st.sampled_from("0fAz9"))
def test_a_valid_key_with_one_character_changed_is_refused(
    client: TestClient[Litestar], lab: Lab, position: int, replacement: str
) -> None:
    plaintext = lab.keys["admin"][1]
    changed = plaintext[:position] + replacement + plaintext[position + 1:]
    expected = 200 if changed == plaintext else 401
    assert call(client, "read", f"Bearer {changed}").status_code == expected


def test_bearer_key_returns_the_key(lab: Lab) -> None:
    plaintext = lab.keys["scorer"][1]
    assert bearer_key([f"Bearer   {plaintext} "]) == plaintext


# --- a real server on loopback ------------------------------------------------------------


@dataclass
class Served:
    url: str
    server: Any
    thread: threading.Thread


def serve(app: Litestar, **ssl_files: str) -> Served:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", **ssl_files)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    scheme = "https" if ssl_files else "http"
    return Served(f"{scheme}://localhost:{port}", server, thread)


def stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join(timeout=10)


def fetch(url: str, key: str | None = None, context: ssl.SSLContext | None = None
          ) -> tuple[int, dict[str, Any], str | None]:
    request = urllib.request.Request(url)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("WWW-Authenticate")


def _twice(url: str, key: str) -> int:
    """GET /v1/models with two separate Authorization headers on the wire."""
    import http.client

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("GET", "/v1/models")
        connection.putheader("Authorization", f"Bearer {key}")
        connection.putheader("Authorization", f"Bearer {key}")
        connection.endheaders()
        response = connection.getresponse()
        assert "exactly one" in json.loads(response.read())["detail"]
        return response.status
    finally:
        connection.close()


def test_through_uvicorn_keys_roles_and_revocation(tmp_path: Path) -> None:
    path = tmp_path / "appliance.db"
    db = connect(path)
    analyst, analyst_key = create_key(db, "analyst", "bi", actor="t")
    _, scorer_key = create_key(db, "scorer", "branch", actor="t")
    cache = KeyCache(path, recheck_s=0.3)
    served = serve(build_app(cache))
    try:
        assert fetch(f"{served.url}/health") == (200, {"status": "ok"}, None)
        status, body, challenge = fetch(f"{served.url}/v1/models")
        assert (status, body["status_code"], challenge) == (401, 401, "Bearer")
        assert fetch(f"{served.url}/v1/models", analyst_key)[:2] == (
            200, {"key": analyst.id, "role": "analyst", "auth": analyst.id})
        assert _twice(served.url, analyst_key) == 401
        status, body, _ = fetch(f"{served.url}/v1/models", scorer_key)
        assert status == 403 and "role 'scorer'" in body["detail"]
        revoke_key(db, analyst.id, actor="t")  # as `appliance keys revoke` would, elsewhere
        revoked_at = time.monotonic()
        while fetch(f"{served.url}/v1/models", analyst_key)[0] == 200:
            assert time.monotonic() - revoked_at < 0.3 + 1.0  # the bound, plus HTTP slack
            time.sleep(0.02)
        assert fetch(f"{served.url}/v1/models", analyst_key)[0] == 401
    finally:
        stop(served)
        cache.close()
        db.close()


def test_through_uvicorn_over_tls_with_a_self_signed_pair(tmp_path: Path, lab: Lab) -> None:
    cert, key = write_pair(self_signed(("localhost", "127.0.0.1"), days=1), tmp_path / "tls")
    served = serve(build_app(lab.cache), ssl_certfile=str(cert), ssl_keyfile=str(key))
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        analyst_key = lab.keys["analyst"][1]
        assert fetch(f"{served.url}/v1/models", analyst_key, trusted)[0] == 200
        assert fetch(f"{served.url}/v1/models", None, trusted)[0] == 401
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(f"{served.url}/health", None, ssl.create_default_context())
    finally:
        stop(served)
