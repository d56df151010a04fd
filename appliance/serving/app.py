"""The REST service: Litestar routes over the scoring engine, the prediction log, the
key store and the metrics. ``create_app`` builds it; ``appliance serve`` runs it under
uvicorn.

Every route but ``/health`` needs an API key whose role allows it. Bad input of any
kind is a 4xx whose body names the field and the problem; only a bug is a 500.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

from appliance.errors import ApplianceError
from appliance.home import DataHome
from appliance.serving.auth import auth_middleware, requires
from appliance.serving.engine import Engine
from appliance.serving.records import InvalidRecord

__all__ = ["ServiceOptions", "create_app"]

log = logging.getLogger("appliance.serving")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet")


@dataclass(frozen=True)
class ServiceOptions:
    max_body_bytes: int = 64 * 1024 * 1024
    max_batch_json: int = 10_000
    refresh_s: float = 2.0
    open_paths: tuple[str, ...] = ("/health",)


@dataclass
class Service:
    """What the route handlers share (on ``app.state.service``)."""

    home: DataHome
    engine: Engine
    log: Any  # PredictionLog
    metrics: Any  # ServiceMetrics
    keys: Any  # KeyCache
    options: ServiceOptions
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        """Hot swap: pick up alias moves (promote, rollback) and new lake data."""
        while not self.stop.wait(self.options.refresh_s):
            try:
                for change in self.engine.refresh():
                    log.info("now serving %s", change)
                self._publish_models()
            except Exception:  # a failed reload keeps the last good models serving
                log.exception("reloading models failed; the previous versions keep serving")

    def _publish_models(self) -> None:
        for name, host in self.engine.hosts().items():
            for role, slot in host.slots.items():
                self.metrics.set_model(name, slot.version, role, slot.loaded.scorer.kind)


def _service(request: Request[Any, Any, Any]) -> Service:
    service: Service = request.app.state.service
    return service


def _key_id(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    return str(getattr(user, "id", "") or "")


# -- routes ----------------------------------------------------------------------------


@get("/health", media_type=MediaType.JSON, summary="Liveness (no key needed)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", media_type=MediaType.JSON, guards=[requires("read")],
     summary="Models loaded and the log writing")  # fmt: skip
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    service = _service(request)
    models = {name: host.aliases for name, host in service.engine.hosts().items()}
    healthy = bool(getattr(service.log, "healthy", True))
    ok = bool(models) and healthy
    body = {"ready": ok, "models": models, "prediction_log": "ok" if healthy else "failing"}
    return Response(body, status_code=200 if ok else 503)


@get("/metrics", guards=[requires("read")], summary="Prometheus text exposition")
async def metrics_text(request: Request[Any, Any, Any]) -> Response[bytes]:
    body, content_type = _service(request).metrics.render()
    return Response(body, media_type=content_type)


@get("/v1/models", guards=[requires("read")], summary="Models, versions and aliases")
async def list_models(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    from appliance import registry

    service = _service(request)
    db = service.engine.db
    out = []
    for model in registry.list_models(db):
        aliases = registry.aliases(db, model.name)
        versions = [{"version": v.version, "status": v.status, "trained_at": v.trained_at,
                     "metric": dict([v.key_metric()]), "compiled": (v.compile or {}).get("status")}
                    for v in registry.list_versions(db, model.name)]  # fmt: skip
        served = model.name in service.engine.hosts()
        out.append({"name": model.name, "usecase": model.usecase, "aliases": aliases,
                    "served": served, "versions": versions})  # fmt: skip
    return out


@get("/v1/models/{name:str}", guards=[requires("read")],
     summary="One model: aliases, metrics, feature and request schema")  # fmt: skip
async def show_model(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    from appliance import registry

    service = _service(request)
    db = service.engine.db
    model = registry.get_model(db, name)
    aliases = registry.aliases(db, name)
    production = registry.resolve(db, name, "production") if "production" in aliases else None
    body: dict[str, Any] = {"name": model.name, "usecase": model.usecase,
                            "description": model.description, "aliases": aliases}  # fmt: skip
    if production is not None:
        body["production"] = {
            "version": production.version, "metrics": production.metrics.get("test"),
            "threshold": production.metrics.get("threshold"), "compile": production.compile,
            "feature_schema": production.feature_schema, "datasets": production.datasets,
        }  # fmt: skip
    host = service.engine.hosts().get(name)
    if host is not None:
        body["request_schema"] = host.schema.describe()
        body["reason_dictionary_version"] = host.config.version
    return body


@post("/v1/models/{name:str}/score", guards=[requires("score")], status_code=200,
      summary="Score one applicant's raw record")  # fmt: skip
async def score(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    record = await _json_body(request, expect=dict)
    return _service(request).engine.score(name, record, key_id=_key_id(request))


@post("/v1/models/{name:str}/score:batch", guards=[requires("score")], status_code=200,
      summary="Score many records: a JSON array, or an Arrow IPC / Parquet body")  # fmt: skip
async def score_batch(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    import anyio

    service = _service(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    key_id = _key_id(request)
    if content_type in (ARROW_STREAM, *PARQUET):
        table = _read_table(await request.body(), content_type)
        rows = await anyio.to_thread.run_sync(
            lambda: service.engine.score_table(name, table, key_id=key_id)
        )
        return Response(_write_table(rows, content_type), media_type=content_type)
    records = await _json_body(request, expect=list)
    if len(records) > service.options.max_batch_json:
        limit = service.options.max_batch_json
        raise HTTPException(status_code=413, detail=(
            f"{len(records):,} records in one JSON batch; at most {limit:,} "
            "(send Arrow IPC or Parquet for more)"))  # fmt: skip
    rows = await anyio.to_thread.run_sync(
        lambda: service.engine.score_batch(name, records, key_id=key_id)
    )
    return Response({"results": rows, "scored": sum("error" not in r for r in rows),
                     "rejected": sum("error" in r for r in rows)})  # fmt: skip


@post("/v1/outcomes", guards=[requires("outcomes")], status_code=200,
      summary="Observed outcomes (defaulted, fraud confirmed) by request or record id")  # fmt: skip
async def outcomes(request: Request[Any, Any, Any]) -> dict[str, Any]:
    import anyio

    from appliance.serving.outcomes import record_outcomes

    items = await _json_body(request, expect=list)
    key_id = _key_id(request)

    def store() -> dict[str, Any]:
        with _writer(request) as db:
            return dict(record_outcomes(db, items, key_id=key_id, actor=key_id).to_dict())

    return await anyio.to_thread.run_sync(store)


@post("/v1/models/{name:str}/promote", guards=[requires("admin")], status_code=200,
      summary="Point an alias at a version (production passes the promotion gates)")  # fmt: skip
async def promote(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    import anyio

    from appliance import registry

    body = await _json_body(request, expect=dict)
    version, reason = body.get("version"), body.get("reason")
    alias = body.get("alias", "production")
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(reason, str):
        raise HTTPException(status_code=422, detail=(
            'send {"version": N, "reason": "why", "alias": "production"}: version a whole '
            "number, reason text"))  # fmt: skip

    def act() -> dict[str, Any]:
        with _writer(request) as db:
            report = registry.promote(db, name, version, actor=_key_id(request), reason=reason,
                                      alias=alias)  # fmt: skip
            return {"model": name, "alias": alias, "version": version,
                    "gates": report.as_dict()}  # fmt: skip

    return await anyio.to_thread.run_sync(act)


@post("/v1/models/{name:str}/rollback", guards=[requires("admin")], status_code=200,
      summary="Restore the previous production version")  # fmt: skip
async def rollback(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    import anyio

    from appliance import registry

    body = await _json_body(request, expect=dict)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise HTTPException(status_code=422, detail='send {"reason": "why"}')

    def act() -> dict[str, Any]:
        with _writer(request) as db:
            previous, restored = registry.rollback(db, name, actor=_key_id(request), reason=reason)
            return {"model": name, "alias": "production", "version": restored,
                    "replaced": previous}  # fmt: skip

    return await anyio.to_thread.run_sync(act)


def _writer(request: Request[Any, Any, Any]) -> AbstractContextManager[Any]:
    """A connection of the request's own for writes (the engine's is for reads)."""
    from appliance.store.db import opened

    return opened(_service(request).home.db_path)


# -- bodies ----------------------------------------------------------------------------


async def _json_body(request: Request[Any, Any, Any], *, expect: type) -> Any:
    raw = await request.body()
    if not raw:
        raise HTTPException(status_code=400, detail="the request body is empty; send JSON")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status_code=400, detail=f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # arrays or objects nested past the parser's stack
        raise HTTPException(status_code=400, detail="the body is JSON nested too deeply; send "
                            "records of plain fields") from exc  # fmt: skip
    if not isinstance(value, expect):
        what = "a JSON object (one record)" if expect is dict else "a JSON array of records"
        raise HTTPException(status_code=400, detail=f"the body must be {what}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; send a finite number or null")


def _read_table(body: bytes, content_type: str) -> pa.Table:
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    if not body:
        raise HTTPException(status_code=400, detail="the request body is empty")
    try:
        if content_type == ARROW_STREAM:
            return ipc.open_stream(pa.BufferReader(body)).read_all()
        return pq.read_table(pa.BufferReader(body))
    except (pa.ArrowInvalid, OSError) as exc:
        kind = "an Arrow IPC stream" if content_type == ARROW_STREAM else "Parquet"
        raise HTTPException(status_code=400, detail=f"the body is not {kind}: {exc}") from exc


def _write_table(rows: list[dict[str, Any]], content_type: str) -> bytes:
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    flat = [{**{k: v for k, v in r.items() if k not in ("reasons", "problems")},
             "reasons": json.dumps(r.get("reasons", [])),
             "error": r.get("error")} for r in rows]  # fmt: skip
    table = pa.Table.from_pylist(flat)
    sink = io.BytesIO()
    if content_type == ARROW_STREAM:
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, sink)
    return sink.getvalue()


# -- errors ----------------------------------------------------------------------------


def _appliance_error(request: Request[Any, Any, Any], exc: ApplianceError) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.http_status, "detail": str(exc)}
    if isinstance(exc, InvalidRecord):
        body["problems"] = [p.to_dict() for p in exc.problems]
    status = exc.http_status if exc.http_status < 500 else 500
    if status >= 500:
        log.error("request %s %s failed: %s", request.method, request.url.path, exc)
    return Response(body, status_code=status)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException):
        body = {"status_code": exc.status_code, "detail": exc.detail}
        extra = getattr(exc, "extra", None)
        if extra:
            body["problems"] = extra
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    log.exception("request %s %s failed", request.method, request.url.path)
    return Response({"status_code": 500, "detail": "internal error; see the service log"},
                    status_code=500)  # fmt: skip


# -- the app ---------------------------------------------------------------------------


def create_app(
    home: DataHome, *, engine: Engine, prediction_log: Any, metrics: Any, keys: Any,
    options: ServiceOptions | None = None,
) -> Litestar:  # fmt: skip
    """The service over an already-refreshed ``engine`` (whose sink feeds ``prediction_log``)."""
    import swagger_ui_bundle

    opts = options or ServiceOptions()
    service = Service(home, engine, prediction_log, metrics, keys, opts)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        service._publish_models()
        metrics.track_prediction_log(prediction_log)
        watcher = threading.Thread(target=service.watch, name="model-watch", daemon=True)
        watcher.start()
        try:
            yield
        finally:  # graceful shutdown: uvicorn has drained the requests in flight
            service.stop.set()
            watcher.join(timeout=10)
            prediction_log.close()

    assets = create_static_files_router(path="/schema/assets",
                                        directories=[swagger_ui_bundle.swagger_ui_path],
                                        include_in_schema=False)  # fmt: skip
    swagger = SwaggerRenderPlugin(
        js_url="/schema/assets/swagger-ui-bundle.js", css_url="/schema/assets/swagger-ui.css",
        standalone_preset_js_url="/schema/assets/swagger-ui-standalone-preset.js",
        favicon="<link rel='icon' type='image/png' href='/schema/assets/favicon-32x32.png'>",
    )  # fmt: skip
    return Litestar(
        route_handlers=[
            health, ready, metrics_text, list_models, show_model, score, score_batch, outcomes,
            promote, rollback, assets,
        ],
        middleware=[_timing_middleware(metrics), auth_middleware(keys, open_paths=opts.open_paths)],
        exception_handlers={ApplianceError: _appliance_error, Exception: _unexpected},
        openapi_config=OpenAPIConfig(
            title="Scoring appliance", version="1", render_plugins=[swagger], path="/schema"
        ),
        request_max_body_size=opts.max_body_bytes,
        state=_state(service),
        lifespan=[lifespan],
        logging_config=None,  # the process's own logging (plain or JSON lines) applies
        debug=False,
    )


def _state(service: Service) -> Any:
    from litestar.datastructures import State

    return State({"service": service})


def _timing_middleware(metrics: Any) -> Any:
    from litestar.middleware import DefineMiddleware

    def factory(app: Any) -> Any:
        async def middleware(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = {"code": 500}

            async def record(message: Mapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, record)
            finally:
                route = scope.get("path_template") or _route_of(scope)
                metrics.observe_request(route, scope.get("method", ""), status["code"],
                                        time.perf_counter() - started)  # fmt: skip

        return middleware

    return DefineMiddleware(factory)


def _route_of(scope: Mapping[str, Any]) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return next(iter(paths)) if paths else "(unmatched)"
