"""Fuzzing the REST API of a real service (uvicorn on loopback, real keys, a trained and
compiled model): schemathesis over the app's own OpenAPI schema, and hypothesis over raw
bodies, content types and path names. No answer may be a 5xx; every 4xx says what was
wrong (a non-empty ``detail``); the service still answers afterwards.

The app's handlers read their bodies raw (JSON, Arrow IPC or Parquet), so its schema
declares no request bodies. The schemathesis test adds them, built from the request
schema the service itself publishes at ``GET /v1/models/{name}`` and the body shapes in
docs/serving.md, so the generator reaches the handlers with both valid (positive) and
schema-breaking (negative) bodies.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.home import DataHome
from tests.lake_fixtures import copy_home
from tests.serving_fixtures import APPLICANT, MODEL, Running, trained_home  # noqa: F401

pytestmark = pytest.mark.slow

ROLES = ("scorer", "analyst", "admin", None)
PERMISSION = {  # route -> the permission docs/security.md gives it (None: open)
    ("GET", "/health"): None, ("GET", "/ready"): "read", ("GET", "/metrics"): "read",
    ("GET", "/v1/models"): "read", ("GET", "/v1/models/{name}"): "read",
    ("POST", "/v1/models/{name}/score"): "score",
    ("POST", "/v1/models/{name}/score:batch"): "score",
    ("POST", "/v1/outcomes"): "outcomes", ("POST", "/v1/models/{name}/promote"): "admin",
    ("POST", "/v1/models/{name}/rollback"): "admin",
}  # fmt: skip
CASES_PER_OPERATION = 16
GRANTS = {"scorer": {"score", "outcomes"}, "analyst": {"read"},
          "admin": {"score", "outcomes", "read", "admin"}}  # fmt: skip


@pytest.fixture(scope="module")
def service(trained_home: DataHome, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
            ) -> Iterator[Running]:  # fmt: skip
    running = Running(copy_home(trained_home, tmp_path_factory.mktemp("fuzz") / "home"))
    yield running
    running.stop()


def check_answer(method: str, path: str, role: str | None, status: int, body: bytes,
                 headers: Any) -> None:  # fmt: skip
    """What every answer must satisfy, whatever was sent."""
    where = f"{method} {path} as {role or 'no key'}: {status} {body[:300]!r}"
    assert status < 500, where
    if status >= 400:
        detail = json.loads(body).get("detail")
        assert isinstance(detail, str) and detail.strip(), where
    if status == 401:
        challenge = headers.get("www-authenticate")
        if isinstance(challenge, list):  # schemathesis keeps every value of a header
            [challenge] = challenge
        assert challenge == "Bearer", where


def expected_refusal(template: tuple[str, str], role: str | None) -> int | None:
    """401 or 403 where the route's permission is not the role's; None where allowed."""
    permission = PERMISSION[template]
    if permission is None:
        return None
    if role is None:
        return 401
    return None if permission in GRANTS[role] else 403


# -- schemathesis ----------------------------------------------------------------------


def _field_schema(field: dict[str, Any]) -> dict[str, Any]:
    kind = field["type"]
    if kind in ("int", "float"):
        out: dict[str, Any] = {"type": "integer" if kind == "int" else "number"}
        out.update({k: field[m] for k, m in (("minimum", "min"), ("maximum", "max")) if m in field})
        return out
    if kind == "date":
        return {"type": "string", "format": "date"}
    if kind == "bool":
        return {"type": "boolean"}
    out = {"type": "string", "maxLength": field.get("max_length", 1000)}
    if "pattern" in field:
        out["pattern"] = field["pattern"]
    if "allowed" in field:
        out = {"enum": field["allowed"]}
    return out


def record_schema(request_schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of one raw record, from what ``GET /v1/models/{name}`` publishes."""

    def obj(fields: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False,
                "properties": {f["name"]: _field_schema(f) for f in fields},
                "required": [f["name"] for f in fields if f.get("required")]}  # fmt: skip

    record = obj(request_schema["fields"])
    for join, fields in request_schema["joins"].items():
        record["properties"][join] = obj(fields)
    return record


def with_bodies(spec: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The app's schema plus the JSON bodies docs/serving.md describes."""
    outcome = {"type": "object", "additionalProperties": False, "properties": {
        "request_id": {"type": "string", "maxLength": 200},
        "application_id": {"type": "string", "maxLength": 200},
        "model": {"type": "string", "maxLength": 50},
        "outcome": {"enum": [0, 1, True, False, "0", "1", "true", "false"]},
        "observed_at": {"type": "string", "format": "date"},
    }, "required": ["outcome"]}  # fmt: skip
    bodies = {
        "/v1/models/{name}/score": record,
        "/v1/models/{name}/score:batch": {"type": "array", "items": record, "minItems": 1,
                                          "maxItems": 4},
        "/v1/outcomes": {"type": "array", "items": outcome, "minItems": 1, "maxItems": 4},
        "/v1/models/{name}/promote": {"type": "object", "required": ["version", "reason"],
            "properties": {"version": {"type": "integer", "minimum": 1, "maximum": 3},
                           "reason": {"type": "string", "minLength": 1, "maxLength": 50},
                           "alias": {"enum": ["production", "challenger", "shadow"]}}},
        "/v1/models/{name}/rollback": {"type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 50}}},
    }  # fmt: skip
    out = copy.deepcopy(spec)
    for path, schema in bodies.items():
        out["paths"][path]["post"]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": schema}}}
    return out


def test_schemathesis_finds_no_5xx_and_every_4xx_says_why(
    service: Running, record_property: Any
) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    spec = service.call("GET", "/schema/openapi.json", role="analyst").json()
    assert {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops} == set(PERMISSION)
    shown = service.call("GET", f"/v1/models/{MODEL}", role="analyst").json()
    schema = schemathesis.openapi.from_dict(with_bodies(spec, record_schema(
        shown["request_schema"])))  # fmt: skip
    tried: list[tuple[str, str, str | None, int]] = []
    session = requests.Session()

    def fuzz(operation: Any) -> None:
        strategies = []
        for mode in GenerationMode:
            strategies.append(operation.as_strategy(mode))
            if "{name}" in operation.path:  # most cases should reach the handler's body
                strategies += [operation.as_strategy(mode, path_parameters={"name": MODEL})] * 2

        @settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=st.one_of(strategies), role=st.sampled_from(ROLES))
        def one(case: Any, role: str | None) -> None:
            headers = {"Authorization": f"Bearer {service.keys[role]}"} if role else {}
            reply = case.call(base_url=service.url, session=session, headers=headers, timeout=30)
            template = (case.method.upper(), case.operation.path)
            tried.append((*template, role, reply.status_code))
            check_answer(case.method, case.formatted_path, role, reply.status_code,
                         reply.content, reply.headers)  # fmt: skip
            refusal = expected_refusal(template, role)
            if refusal is not None:
                assert reply.status_code == refusal, (template, role, reply.text)

        one()

    for result in schema.get_all_operations():
        fuzz(result.ok())
    statuses = sorted({status for *_, status in tried})
    record_property("schemathesis_cases", len(tried))
    print(f"schemathesis: {len(tried)} cases over {len({t[:2] for t in tried})} operations, "
          f"statuses {statuses}")  # fmt: skip
    assert len(tried) >= 100
    assert 200 in statuses and {400, 401, 403, 404, 422} <= set(statuses)
    assert len({t[:2] for t in tried}) == len(PERMISSION)  # every route was tried
    assert service.call("GET", "/health", role=None).status_code == 200
    assert service.score(APPLICANT).status_code == 200


# -- hypothesis on raw bodies ----------------------------------------------------------

CONTENT_TYPES = (
    "application/json", "application/vnd.apache.arrow.stream", "application/vnd.apache.parquet",
    "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "",
    "application/x-www-form-urlencoded",
)  # fmt: skip


def _arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_json_like = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                          max_leaves=10)  # fmt: skip
_records = st.lists(st.fixed_dictionaries({}, optional={
    k: _json_like | st.just(v) for k, v in APPLICANT.items()}), min_size=0, max_size=4)  # fmt: skip


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes of every kind: noise, broken and odd JSON, and real Arrow or Parquet
    tables whose columns are of any type."""
    kind = draw(st.sampled_from(["bytes", "json", "text", "arrow", "parquet", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=3000))
    if kind == "json":
        return json.dumps(draw(_json_like | _records), allow_nan=True).encode()
    if kind == "text":
        return draw(st.text(max_size=500)).encode("utf-8", "surrogatepass")
    if kind == "deep":  # nesting deeper than a JSON parser's recursion limit
        depth = draw(st.integers(10, 100_000))
        return b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    write = _arrow if kind == "arrow" else _parquet
    try:  # not every list of records makes a table Arrow or Parquet can hold
        return write(pa.Table.from_pylist(draw(_records.filter(bool))))
    except (pa.ArrowException, OverflowError, ValueError):
        return write(pa.table({"x": [1]}))


TEMPLATES = sorted(t for t, p in PERMISSION.items() if p not in (None, "read"))


def test_raw_bodies_and_names_never_make_a_5xx(service: Running, record_property: Any) -> None:
    tried: list[int] = []
    client = httpx.Client(base_url=service.url, timeout=30)

    @settings(max_examples=70, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(template=st.sampled_from(TEMPLATES), body=raw_bodies(),
           content_type=st.sampled_from(CONTENT_TYPES),
           name=st.just(MODEL) | st.text(min_size=1, max_size=30),
           role=st.sampled_from(["admin", "scorer"]))  # fmt: skip
    def one(template: tuple[str, str], body: bytes, content_type: str, name: str,
            role: str) -> None:  # fmt: skip
        path = template[1].replace("{name}", quote(name, safe=""))
        headers = {"Authorization": f"Bearer {service.keys[role]}"}
        if content_type:
            headers["Content-Type"] = content_type
        reply = client.request(template[0], path, content=body, headers=headers)
        tried.append(reply.status_code)
        check_answer(template[0], path, role, reply.status_code, reply.content, reply.headers)

    one()
    record_property("raw_body_cases", len(tried))
    print(f"raw bodies: {len(tried)} cases, statuses {sorted(set(tried))}")
    assert len(tried) >= 50 and 400 in tried  # bodies reached the handlers
    assert service.call("GET", "/health", role=None).status_code == 200
    assert service.score(APPLICANT).status_code == 200


def test_a_body_nested_past_the_parsers_limit_is_a_400(service: Running) -> None:
    for path in (f"/v1/models/{MODEL}/score", "/v1/outcomes"):
        reply = service.call("POST", path, content=b"[" * 200_000 + b"]" * 200_000)
        assert reply.status_code == 400 and reply.json()["detail"], reply.text


def test_the_schema_helpers_build_what_the_service_checks(tmp_path: Path) -> None:
    shown = {"fields": [{"name": "a", "type": "int", "required": True, "min": 1, "max": 3},
                        {"name": "b", "type": "string", "required": False, "allowed": ["x"]}],
             "joins": {"j": [{"name": "c", "type": "date", "required": True}]}}  # fmt: skip
    schema = record_schema(shown)
    assert schema["required"] == ["a"] and schema["additionalProperties"] is False
    assert schema["properties"]["a"] == {"type": "integer", "minimum": 1, "maximum": 3}
    assert schema["properties"]["b"] == {"enum": ["x"]}
    assert schema["properties"]["j"]["required"] == ["c"]
    assert expected_refusal(("POST", "/v1/outcomes"), "analyst") == 403
    assert expected_refusal(("GET", "/health"), None) is None
    assert expected_refusal(("GET", "/metrics"), None) == 401
