"""The doctor's checks. Adding one: a function ``(ctx) -> CheckResult | list`` and an
entry in CHECKS. Each says what it found in plain words and what to do when not ok."""

from __future__ import annotations

import socket
import sqlite3

from appliance.doctor.model import Check, CheckResult, DoctorContext
from appliance.errors import ApplianceError
from appliance.home import SUBDIRS

__all__ = ["CHECKS"]

_NO_STORE = "not checked: the store is missing, damaged or does not open (see 'store')"
_STORE_ERRORS = (ApplianceError, sqlite3.Error)


def home_laid_out(ctx: DoctorContext) -> CheckResult:
    root = ctx.home.root
    if not root.is_dir():
        return CheckResult(
            "home", "fail", f"{root} does not exist; run `appliance --home {root} init`"
        )
    missing = [name for name in SUBDIRS if not (root / name).is_dir()]
    if not ctx.home.is_initialised:
        missing.append("appliance.db")
    if missing:
        return CheckResult(
            "home",
            "fail",
            f"{root} lacks {', '.join(missing)}; run `appliance init` to lay it out again",
        )
    return CheckResult("home", "ok", f"{root}: {len(SUBDIRS)} folders and the store present")


def config_reads(ctx: DoctorContext) -> CheckResult:
    if ctx.config is None:
        return CheckResult("config", "fail", ctx.config_error or "appliance.toml was not read")
    c = ctx.config
    jobs = f"{c.jobs} job(s), {c.enabled} enabled"
    if not c.from_home:
        return CheckResult(
            "config",
            "warn",
            f"no appliance.toml in the home, so the shipped "
            f"defaults apply ({jobs}); `appliance init` "
            "writes an editable copy",
        )
    return CheckResult("config", "ok", f"{c.origin}: {jobs}")


def store_sound(ctx: DoctorContext) -> CheckResult:
    if not ctx.home.is_initialised:
        return CheckResult("store", "fail", f"no store at {ctx.home.db_path}; run `appliance init`")
    try:
        rows = [r[0] for r in ctx.db().execute("PRAGMA integrity_check").fetchall()]
    except _STORE_ERRORS as exc:
        return CheckResult(
            "store",
            "fail",
            f"{ctx.home.db_path} cannot be read: {exc}; restore "
            "the home from a backup (`appliance restore`)",
        )
    if rows != ["ok"]:
        shown = "; ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
        return CheckResult(
            "store",
            "fail",
            f"SQLite integrity check of {ctx.home.db_path} "
            f"failed: {shown}; restore it from a backup",
        )
    return CheckResult("store", "ok", f"{ctx.home.db_path} opens; integrity check ok")


def schema_current(ctx: DoctorContext) -> CheckResult:
    from appliance.store.db import schema_version
    from appliance.store.migrations import MIGRATIONS

    try:
        found = schema_version(ctx.db())
    except _STORE_ERRORS:
        return CheckResult("schema", "warn", _NO_STORE)
    expected = max(m.number for m in MIGRATIONS)
    if found > expected:
        return CheckResult(
            "schema",
            "fail",
            f"the store is at schema {found}, newer than this "
            f"appliance knows ({expected}); install the newer "
            "appliance it was last used with",
        )
    if found < expected:
        return CheckResult(
            "schema",
            "warn",
            f"the store is at schema {found} of {expected}; the "
            "next command that opens it migrates it",
        )
    return CheckResult("schema", "ok", f"migrations current (schema {found})")


def audit_chain(ctx: DoctorContext) -> CheckResult:
    from appliance import audit

    try:
        report = audit.verify(ctx.db())
    except _STORE_ERRORS:
        return CheckResult("audit", "warn", _NO_STORE)
    if not report.ok:
        return CheckResult(
            "audit",
            "fail",
            f"the audit chain breaks at entry {report.first_broken}: {report.problem}",
        )
    return CheckResult("audit", "ok", f"audit chain intact ({report.entries} entries)")


def production_models(ctx: DoctorContext) -> list[CheckResult]:
    """Each production model loaded exactly as the service loads it, then a self-test:
    rows from its test set scored by the serving scorer and by XGBoost, which must agree,
    and one row's reason contributions, which must add up to its margin."""
    from appliance.registry import aliases, list_models

    try:
        models = list_models(ctx.db())
    except _STORE_ERRORS:
        return [CheckResult("models", "warn", _NO_STORE)]
    results = []
    for model in models:
        version = aliases(ctx.db(), model.name).get("production")
        if version is not None:
            results.append(_self_test(ctx, model.name, version))
    return results or [CheckResult("models", "ok", "no model in production yet")]


def _self_test(ctx: DoctorContext, model: str, version: int) -> CheckResult:
    import numpy as np

    from appliance.scoring import PARITY_FILES, load_scorer
    from compiled_models.forest import Forest
    from compiled_models.treeshap import TreeExplainer

    name = f"model {model}/{version}"
    try:
        loaded = load_scorer(ctx.home, ctx.db(), model, str(version))
    except ApplianceError as exc:
        return CheckResult(name, "fail", f"does not load: {exc}")
    scorer = loaded.scorer
    folder = ctx.home.inside(loaded.version.booster_path).parent
    saved = folder / PARITY_FILES["test"]
    rows = (np.load(saved, allow_pickle=False)[:200] if saved.is_file()
            else np.zeros((1, scorer.n_features)))  # fmt: skip
    want = loaded.booster.inplace_predict(rows)
    got = np.array([scorer.predict_one(row) for row in rows])
    # amounts (a regression) are compared relative to their size, as the compile check does
    amounts = (loaded.version.metrics or {}).get("task") == "regression"
    scale = np.maximum(1.0, np.abs(want)) if amounts else 1.0
    diff = float((np.abs(got - want) / scale).max())
    if diff > 1e-5:
        why = f"the {scorer.kind} scorer disagrees with XGBoost by {diff:.3g} on its test rows"
        return CheckResult(name, "fail", why)
    explainer = TreeExplainer(Forest.from_booster(loaded.booster))
    margin = float(loaded.booster.inplace_predict(rows[:1], predict_type="margin")[0])
    if abs(float(explainer.row(rows[0]).sum()) - margin) > 1e-4 * max(1.0, abs(margin)):
        return CheckResult(name, "fail", "reason contributions do not add up to the margin")
    checked = f"{len(rows)} test rows match XGBoost (max diff {diff:.1e}); reasons add up"
    if scorer.kind == "native":
        compiled = loaded.version.compile or {}
        entry = getattr(scorer.single, "entry", "ctypes")  # "python": a builtin per row
        library = (f"compiled ({compiled.get('variant')}, {compiled.get('latency_us')} us/row, "
                   f"rows through its {entry} entry point)")  # fmt: skip
        return CheckResult(name, "ok", f"{library}; {checked}")
    return CheckResult(name, "warn", f"serving through XGBoost: {scorer.reason}; {checked}")


def c_compiler(ctx: DoctorContext) -> CheckResult:
    from compiled_models.toolchain import CompilerMissing, find_compiler

    try:
        compiler = find_compiler()
    except CompilerMissing as exc:
        return CheckResult(
            "compiler",
            "warn",
            f"{exc}; models are served through XGBoost until a C compiler is installed",
        )
    return CheckResult("compiler", "ok", f"{compiler.path} ({compiler.version}) builds libraries")


def imagery_model(ctx: DoctorContext) -> CheckResult:
    from imagery_edge.device import open_classifier
    from imagery_edge.model_info import load_model_info

    try:
        info = load_model_info()
        open_classifier("cpu", 1, 1, info)
    except ApplianceError as exc:
        return CheckResult("imagery model", "fail", str(exc))
    return CheckResult(
        "imagery model", "ok", f"{info.model_version('tflite_int8')} loads (hash checked)"
    )


def ports_free(ctx: DoctorContext) -> list[CheckResult]:
    from appliance.doctor.service_lock import running_service

    if ctx.config is None:
        return [CheckResult("ports", "warn", "not checked: appliance.toml does not load")]
    service = running_service(ctx.home)
    results = []
    for what, key, port in ctx.config.ports:
        name = f"port {port}"
        problem = _bind_problem(ctx.config.host, port)
        if problem is None:
            results.append(
                CheckResult(name, "ok", f"{what} port {port} on {ctx.config.host} is free")
            )
        elif service is not None:
            results.append(
                CheckResult(
                    name,
                    "ok",
                    f"{what} port {port} is held by the running "
                    f"appliance up (pid {service.get('pid')})",
                )
            )
        else:
            results.append(
                CheckResult(
                    name,
                    "fail",
                    f"{what} port {port} on {ctx.config.host} "
                    f"cannot be used ({problem}); stop what "
                    f"holds it or change [service] {key} in "
                    "appliance.toml",
                )
            )
    return results


def _bind_problem(host: str, port: int) -> str | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host!r} does not resolve: {exc}"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


CHECKS: list[Check] = [
    Check("home", home_laid_out),
    Check("config", config_reads),
    Check("store", store_sound),
    Check("schema", schema_current),
    Check("audit", audit_chain),
    Check("models", production_models),
    Check("compiler", c_compiler),
    Check("imagery model", imagery_model),
    Check("ports", ports_free),
]
