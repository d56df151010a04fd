"""Compile an XGBoost model into a verified native library, or say exactly why not.

``compile_model`` runs the compile job (``compiled_models.worker``) in a child process
with a timeout, streams its progress, and leaves in ``out_dir`` the chosen library,
named by the cache key, and ``compile.json`` describing it. The cache key hashes the
model bytes, the Treelite and TL2cgen versions, the compiler and its flags, the
candidate variants and the rows used for annotation and parity: the same inputs never
compile twice. Three outcomes:

- ``ok``: a library that matches XGBoost within the tolerance on every probe row;
- ``failed``: libraries were built but none matches: the version must not be promoted;
- ``unavailable``: no compiler, a compiler error or a timeout: XGBoost serves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from compiled_models.build import DEFAULT_VARIANTS, Variant
from compiled_models.parity import TOLERANCE, probe_rows
from compiled_models.toolchain import CompilerMissing, find_compiler

__all__ = ["REPORT_FILE", "CompileReport", "cache_key", "compile_model"]

REPORT_FILE = "compile.json"
Progress = Callable[[str], None]
_TIMESTAMPED = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


@dataclass(frozen=True)
class CompileReport:
    """What a compile produced; ``to_dict`` is what the registry records."""

    status: str
    reason: str = ""
    library: str | None = None
    library_sha256: str | None = None
    cache_key: str | None = None
    variant: str | None = None
    max_abs_diff: float | None = None
    parity: Mapping[str, Any] | None = None
    latency_us: float | None = None
    batch: Mapping[str, Any] | None = None
    variants: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    compiler: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["variants"] = [dict(v) for v in self.variants]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompileReport:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def cache_key(
    model_json: bytes,
    compiler_identity: str,
    variants: Sequence[Variant],
    *rows: np.ndarray | None,
    tolerance: float = TOLERANCE,
) -> str:
    """SHA-256 over everything that decides what the compile produces."""
    h = hashlib.sha256()
    shim = resources.files("compiled_models").joinpath("shim.c").read_bytes()
    for part in (hashlib.sha256(model_json).hexdigest(), _versions_line(), compiler_identity,
                 hashlib.sha256(shim).hexdigest(), ",".join(v.name for v in variants),
                 repr(tolerance)):  # fmt: skip
        h.update(part.encode() + b"\0")
    for array in rows:
        h.update(b"-" if array is None else np.ascontiguousarray(array, np.float64).tobytes())
        h.update(b"\0")
    return h.hexdigest()


def compile_model(
    model_json: bytes,
    out_dir: Path,
    *,
    test_rows: np.ndarray | None = None,
    train_rows: np.ndarray | None = None,
    thresholds: Mapping[int, np.ndarray] | None = None,
    categorical: Mapping[int, int] | None = None,
    variants: Sequence[Variant] = DEFAULT_VARIANTS,
    tolerance: float = TOLERANCE,
    timeout_s: float = 900.0,
    jobs: int | None = None,
    progress: Progress = lambda _line: None,
) -> CompileReport:
    """Compile ``model_json`` (an XGBoost JSON model) into ``out_dir``; never raises for a
    missing compiler, a build error or a parity failure: the report says which."""
    started = time.monotonic()
    versions = _versions()
    try:
        compiler = find_compiler()
    except CompilerMissing as exc:
        return CompileReport("unavailable", reason=str(exc), versions=versions)
    n_features = _num_features(model_json)
    probes = probe_rows(n_features, real=test_rows, thresholds=thresholds,
                        categorical=categorical)  # fmt: skip
    key = cache_key(model_json, compiler.identity(), variants, test_rows, train_rows,
                    tolerance=tolerance)  # fmt: skip
    cached = _cached(out_dir, key)
    if cached is not None:
        progress(f"library {cached.library} is already built for this model (cache hit)")
        return cached
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".compile-", dir=out_dir) as tmp:
        work = Path(tmp)
        (work / "model.json").write_bytes(model_json)
        np.save(work / "probes.npy", probes)
        if train_rows is not None:
            np.save(work / "train.npy", np.ascontiguousarray(train_rows, np.float64)[:20_000])
        request = {
            "model": str(work / "model.json"), "probes": str(work / "probes.npy"),
            "train": str(work / "train.npy") if train_rows is not None else None,
            "variants": [v.name for v in variants], "tolerance": tolerance,
            "timeout_s": timeout_s, "jobs": jobs or os.cpu_count() or 1,
        }  # fmt: skip
        (work / "request.json").write_text(json.dumps(request))
        failure = _run_worker(work / "request.json", timeout_s, progress)
        if failure is not None:
            return CompileReport("unavailable", reason=failure, cache_key=key,
                                 compiler=compiler.version, versions=versions,
                                 seconds=round(time.monotonic() - started, 2))  # fmt: skip
        result = json.loads((work / "result.json").read_text())
        report = _settle(result, out_dir, key, compiler.version, versions, started)
    _write_report(out_dir, report)
    return report


def _settle(
    result: Mapping[str, Any],
    out_dir: Path,
    key: str,
    compiler: str,
    versions: Mapping[str, str],
    started: float,
) -> CompileReport:
    """Move the chosen library into place under its cache-key name and describe it."""
    common: dict[str, Any] = {
        "cache_key": key, "compiler": compiler, "versions": versions,
        "variants": [{k: v for k, v in r.items() if k != "library"}
                     for r in result.get("variants", [])],
        "parity": result.get("parity"),
        "max_abs_diff": (result.get("parity") or {}).get("max_abs_diff"),
    }  # fmt: skip
    if result["status"] != "ok":
        return CompileReport(result["status"], reason=result.get("reason", ""), **common,
                             seconds=round(time.monotonic() - started, 2))  # fmt: skip
    name = f"model-{key[:16]}.so"
    final = out_dir / name
    staged = out_dir / f".{name}.tmp"
    shutil.copyfile(result["library"], staged)
    os.replace(staged, final)
    sha = hashlib.sha256(final.read_bytes()).hexdigest()
    return CompileReport("ok", library=name, library_sha256=sha, variant=result["variant"],
                         latency_us=result["latency_us"], batch=result["batch"], **common,
                         seconds=round(time.monotonic() - started, 2))  # fmt: skip


def _run_worker(request: Path, timeout_s: float, progress: Progress) -> str | None:
    """Run the worker; None when it finished, else why it did not."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiled_models.worker", str(request)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        cwd=request.parent,
    )  # fmt: skip
    errors: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, progress, errors), daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"compiling took longer than {timeout_s:g} s and was stopped"
    finally:
        reader.join(timeout=5)
    if proc.returncode != 0 or not (request.parent / "result.json").exists():
        tail = " ".join(line for line in errors if "Treelite" not in line)[-600:]
        return f"the compile job exited with status {proc.returncode}: {tail or 'no output'}"
    return None


def _pump(proc: subprocess.Popen[str], progress: Progress, errors: list[str]) -> None:
    assert proc.stdout is not None and proc.stderr is not None
    drain = threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True)
    drain.start()
    for line in proc.stdout:
        if not _TIMESTAMPED.match(line):  # Treelite's own log lines: stderr-grade chatter
            progress(line.rstrip())
    drain.join(timeout=5)


def _cached(out_dir: Path, key: str) -> CompileReport | None:
    try:
        data = json.loads((out_dir / REPORT_FILE).read_text())
    except (OSError, ValueError):
        return None
    report = CompileReport.from_dict(data)
    if report.cache_key != key or report.status != "ok" or not report.library:
        return None
    library = out_dir / report.library
    if not library.is_file() or hashlib.sha256(library.read_bytes()).hexdigest() != (
        report.library_sha256
    ):
        return None
    return CompileReport.from_dict({**data, "cached": True})


def _write_report(out_dir: Path, report: CompileReport) -> None:
    staged = out_dir / f".{REPORT_FILE}.tmp"
    staged.write_text(json.dumps(report.to_dict(), indent=1))
    os.replace(staged, out_dir / REPORT_FILE)


def _num_features(model_json: bytes) -> int:
    learner = json.loads(model_json)["learner"]
    return int(learner["learner_model_param"]["num_feature"])


def _versions() -> dict[str, str]:
    out = {}
    for package in ("treelite", "tl2cgen", "xgboost"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            try:
                out[package] = metadata.version(f"{package}-cpu")
            except metadata.PackageNotFoundError:
                out[package] = "missing"
    return out


def _versions_line() -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(_versions().items()))
