"""The compile job, run in its own process: ``python -m compiled_models.worker REQUEST.json``.

Builds each candidate variant, checks it against XGBoost on the probe rows, times it on
single rows, keeps the fastest variant that matches, then measures batches against
``inplace_predict`` so the batch path is chosen by evidence. Progress goes to stdout,
one line per step; the result goes to ``result.json`` beside the request.

Running apart from the service means a long compile never holds the GIL of the process
that scores, and a compiler that hangs is killed with its whole process group.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from compiled_models.build import (
    BuildFailed,
    Variant,
    build_variant,
    load_treelite,
    write_annotation,
)
from compiled_models.native import NativeScorer
from compiled_models.parity import AMOUNT_OBJECTIVES, check_parity
from compiled_models.reference import XGBoostScorer
from compiled_models.toolchain import find_compiler

__all__ = ["main", "run"]

_LATENCY_ROWS = 2_000
_LATENCY_PASSES = 3
_BATCH_ROWS = 200_000


def run(request: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Do the compile job described by ``request``; return the result record."""
    model_json = Path(request["model"]).read_bytes()
    probes = np.load(request["probes"], allow_pickle=False)
    train = np.load(request["train"], allow_pickle=False) if request.get("train") else None
    jobs = int(request.get("jobs") or os.cpu_count() or 1)
    tolerance = float(request["tolerance"])
    deadline = time.monotonic() + float(request["timeout_s"])
    variants = [Variant.parse(name) for name in request["variants"]]
    if train is None or train.shape[0] == 0:
        variants = [v for v in variants if not v.annotate]
    compiler = find_compiler()
    model = load_treelite(model_json)
    reference = XGBoostScorer.from_bytes(model_json)
    learner = json.loads(model_json)["learner"]
    relative = learner["objective"]["name"] in AMOUNT_OBJECTIVES
    base = float(str(learner["learner_model_param"]["base_score"]).strip("[]")) if relative else 1.0
    annotation = None
    if any(v.annotate for v in variants):
        _say(f"annotating branches from {train.shape[0]:,} training rows")  # type: ignore[union-attr]
        annotation = write_annotation(model, train, workdir / "annotation.json", jobs=jobs)  # type: ignore[arg-type]
    results: list[dict[str, Any]] = []
    scorers: dict[str, NativeScorer] = {}
    for variant in variants:
        _say(f"building {variant.name} ({model.num_tree} trees)")
        started = time.monotonic()
        library = build_variant(model, variant, workdir, compiler, annotation=annotation,
                                jobs=jobs, timeout_s=deadline - time.monotonic(),
                                progress=_say)  # fmt: skip
        built = round(time.monotonic() - started, 2)
        scorer = NativeScorer.load(library, _sha256(library))
        parity = check_parity(scorer, reference, probes, tolerance=tolerance, relative=relative,
                              floor=base)  # fmt: skip
        _say(f"{variant.name}: max |diff| {parity.max_abs_diff:.2e} on {parity.rows:,} rows")
        scorers[variant.name] = scorer
        results.append({"variant": variant.name, "library": str(library), "build_s": built,
                        "parity": parity.to_dict()})  # fmt: skip
    latencies = _single_row_us(scorers, probes)
    for result in results:
        result["latency_us"] = latencies[result["variant"]]
    _say("single row: " + ", ".join(f"{k} {v:.2f} us" for k, v in latencies.items()))
    passing = [r for r in results if r["parity"]["passed"]]
    if not passing:
        worst = min(results, key=lambda r: r["parity"]["max_abs_diff"])
        return {"status": "failed", "variants": results, "parity": worst["parity"],
                "reason": f"no variant matches XGBoost within {tolerance:g}"
                          f"{' (relative)' if relative else ''}: the closest, "
                          f"{worst['variant']}, differs by {worst['parity']['max_abs_diff']:.3g} "
                          f"(probe row {worst['parity']['worst_row']})"}  # fmt: skip
    best = min(passing, key=lambda r: r["latency_us"])
    _say(f"chose {best['variant']}; measuring batches against xgboost.inplace_predict")
    native = NativeScorer.load(Path(best["library"]), _sha256(Path(best["library"])))
    batch = _batch_choice(native, reference, probes, jobs)
    return {"status": "ok", "variant": best["variant"], "library": best["library"],
            "parity": best["parity"], "latency_us": best["latency_us"], "batch": batch,
            "variants": results, "compiler": compiler.version}  # fmt: skip


def _single_row_us(scorers: dict[str, NativeScorer], probes: np.ndarray) -> dict[str, float]:
    """Each library's median single-row latency, timed in alternating rounds of 100 rows so
    that a busy moment of the machine slows every variant alike, not the one it hits."""
    rows = probes[: min(_LATENCY_ROWS, probes.shape[0])]
    times: dict[str, list[int]] = {name: [] for name in scorers}
    for scorer in scorers.values():
        for row in rows[:50]:
            scorer.predict_one(row)
    clock = time.perf_counter_ns
    for _ in range(_LATENCY_PASSES):
        for start in range(0, rows.shape[0], 100):
            for name, scorer in scorers.items():
                sink, one = times[name], scorer.predict_one
                for row in rows[start : start + 100]:
                    t0 = clock()
                    one(row)
                    sink.append(clock() - t0)
    return {name: round(float(np.median(t)) / 1000, 3) for name, t in times.items()}


def _batch_choice(
    native: NativeScorer, reference: XGBoostScorer, probes: np.ndarray, threads: int
) -> dict[str, Any]:
    """Rows per second of each implementation on the same batch; the faster serves batches."""
    reps = max(1, _BATCH_ROWS // max(1, probes.shape[0]))
    rows = np.ascontiguousarray(np.tile(probes, (reps, 1))[:_BATCH_ROWS], dtype=np.float32)
    rates = {}
    for name, scorer in (("native", native), ("xgboost", reference)):
        scorer.predict(rows[:1000], threads=threads)
        best = min(_timed(scorer, rows, threads) for _ in range(3))
        rates[name] = round(rows.shape[0] / best, 1)
    choice = "native" if rates["native"] >= rates["xgboost"] else "xgboost"
    return {"rows": int(rows.shape[0]), "threads": threads, "rows_per_s": rates, "choice": choice}


def _timed(scorer: Any, rows: np.ndarray, threads: int) -> float:
    start = time.perf_counter()
    scorer.predict(rows, threads=threads)
    return time.perf_counter() - start


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request_path = Path(args[0])
    request = json.loads(request_path.read_text())
    workdir = request_path.parent
    try:
        result = run(request, workdir)
    except BuildFailed as exc:
        result = {"status": "unavailable", "reason": str(exc)}
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
