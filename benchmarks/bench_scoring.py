"""Scoring benchmark: the compiled scorer against XGBoost, TL2cgen's Predictor and ONNX Runtime.

Usage::

    .venv/bin/python benchmarks/bench_scoring.py [--single-calls 20000] [--batch-rows 1000000]
        [--task regression]

Trains two models on the same seeded data (20,000 rows, 40 features, 10 % missing, a
non-linear target): 100 trees of depth 4 and 500 trees of depth 6. Each is compiled the
way the appliance compiles a registered version (``compiled_models.compile_model``:
candidate variants built with gcc, the fastest one that matches XGBoost kept), then
scored five ways on the same rows:

* ours: what the appliance serves with, ``ServingScorer`` as the model loader builds it:
  single rows through the compiled library's Python-callable entry point, batches
  through whichever of the library and XGBoost the compile job measured faster;
* library: the compiled library alone (``NativeScorer``; batches split across threads,
  GIL released), whatever the compile job chose;
* xgboost: ``Booster.inplace_predict`` (one row as a 1 x 40 view; batches with nthread);
* tl2cgen: ``tl2cgen.Predictor`` over the same library, a ``DMatrix`` per call;
* onnxruntime: the model converted by onnxmltools, ``InferenceSession.run`` (float32).

Single rows: ``--single-calls`` calls each, in rounds of 500 that alternate the five
(so a busy machine slows all alike); median and p99 in microseconds. Batches:
``--batch-rows`` rows (float32) at 1 and 2 threads, best of 3, each timed run after a
half-second pause (XGBoost's OpenMP workers and ONNX Runtime's pool spin for a while
after a batch, and would otherwise steal a core from whichever scorer runs next).
Reasons: exact TreeSHAP per row (``compiled_models.treeshap``), median and p99 over 2,000
rows. All five agree within 1e-5 on the rows used (checked). ``--task regression`` trains
squared-error models on an amount instead (agreement then relative to the amount, as the
compile check measures it). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEATURES = 40
MODELS = {"100x4": (100, 4), "500x6": (500, 6)}
GOALS = {
    "single_vs_xgboost_100x4_min": 80.0,
    "single_vs_xgboost_500x6_min": 25.0,
    "batch_vs_xgboost_min": 1.0,
    "batch_vs_xgboost_stretch": 1.5,
    "reasons_ms_500x6_max": 1.0,
}


# -- data and models (untimed) ---------------------------------------------------------


def make_data(rows: int, seed: int, task: str = "classification") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    z = np.nan_to_num(x)
    logit = z[:, 0] + 0.8 * z[:, 1] * z[:, 2] - 0.6 * np.abs(z[:, 3]) + 0.4 * (z[:, 4] > 1)
    noise = rng.logistic(size=rows) * 0.8
    if task == "regression":  # an amount around 1,500 (a premium), same signal
        y = 1_500 + 400 * (logit + noise)
    else:
        y = (logit + noise > 0).astype(np.int32)
    x[rng.random(x.shape) < 0.10] = np.nan
    return x, y


def train(x: np.ndarray, y: np.ndarray, trees: int, depth: int, task: str) -> Any:
    import xgboost as xgb

    objective = "reg:squarederror" if task == "regression" else "binary:logistic"
    params = {"max_depth": depth, "eta": 0.1, "objective": objective, "nthread": 2,
              "seed": 0}  # fmt: skip
    return xgb.train(params, xgb.DMatrix(x, y), trees)


def to_onnx(booster: Any) -> Any:
    import onnxmltools
    import onnxruntime as ort
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_xgboost(
        booster, initial_types=[("input", FloatTensorType([None, FEATURES]))], target_opset=15
    )
    raw = model.SerializeToString()

    def session(threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(raw, options, providers=["CPUExecutionProvider"])

    return session


# -- the five scorers, each as (one row -> p) and (batch, threads -> p) ------------------


def scorers(booster: Any, library: Path, sha256: str,
            batch_choice: str) -> dict[str, dict[str, Callable[..., Any]]]:  # fmt: skip
    import tl2cgen

    from compiled_models.native import NativeScorer
    from compiled_models.reference import XGBoostScorer
    from compiled_models.scorer import ServingScorer

    native = NativeScorer.load(library, sha256)
    served = ServingScorer(native, native if batch_choice == "native" else XGBoostScorer(booster))
    predictors = {t: tl2cgen.Predictor(library, nthread=t) for t in (1, 2)}
    sessions_for = to_onnx(booster)
    sessions = {t: sessions_for(t) for t in (1, 2)}

    def xgb_batch(x: np.ndarray, threads: int) -> np.ndarray:
        booster.set_param({"nthread": threads})
        return booster.inplace_predict(x)

    def ort_out(outputs: list[Any]) -> np.ndarray:
        # a classifier answers (labels, probabilities); a regressor one (n, 1) column
        return outputs[1][:, 1] if len(outputs) > 1 else outputs[0][:, 0]

    def ort_one(row: np.ndarray) -> float:
        return float(ort_out(sessions[1].run(None, {"input": row.astype(np.float32)[None, :]}))[0])

    def ort_batch(x: np.ndarray, threads: int) -> np.ndarray:
        return ort_out(sessions[threads].run(None, {"input": x}))

    return {
        "ours": {"one": served.predict_one,
                 "batch": lambda x, t: served.predict(x, threads=t)},
        "library": {"one": native.predict_one,
                    "batch": lambda x, t: native.predict(x, threads=t)},
        "xgboost": {"one": lambda row: float(booster.inplace_predict(row[None, :])[0]),
                    "batch": xgb_batch},
        "tl2cgen": {"one": lambda row: float(predictors[1].predict(tl2cgen.DMatrix(row[None, :]))
                                             .reshape(-1)[0]),
                    "batch": lambda x, t: predictors[t].predict(tl2cgen.DMatrix(x)).reshape(-1)},
        "onnxruntime": {"one": ort_one, "batch": ort_batch},
    }  # fmt: skip


# -- measuring ---------------------------------------------------------------------------


def single_rows(impls: dict[str, dict[str, Callable[..., Any]]], rows: np.ndarray,
                calls: int) -> dict[str, dict[str, float]]:  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in impls}
    for impl in impls.values():  # warm-up
        for row in rows[:50]:
            impl["one"](row)
    clock = time.perf_counter_ns
    for start in range(0, calls, 500):
        block = rows[start % rows.shape[0]:][: min(500, calls - start)]
        for name, impl in impls.items():
            one, sink = impl["one"], times[name]
            for row in block:
                t0 = clock()
                one(row)
                sink.append(clock() - t0)
    return {name: summary_us(np.array(t)) for name, t in times.items()}


def batches(impls: dict[str, dict[str, Callable[..., Any]]], rows: np.ndarray,
            repeats: int) -> dict[str, dict[str, float]]:  # fmt: skip
    out: dict[str, dict[str, float]] = {name: {} for name in impls}
    for threads in (1, 2):
        for impl in impls.values():
            impl["batch"](rows[:1000], threads)
        best = {name: float("inf") for name in impls}
        for _ in range(repeats):
            for name, impl in impls.items():
                time.sleep(0.5)  # let the previous scorer's spinning threads go idle
                t0 = time.perf_counter()
                impl["batch"](rows, threads)
                best[name] = min(best[name], time.perf_counter() - t0)
        for name in impls:
            out[name][f"rows_per_s_{threads}t"] = round(rows.shape[0] / best[name], 1)
    return out


def reasons(booster: Any, rows: np.ndarray) -> dict[str, float]:
    from compiled_models.forest import Forest
    from compiled_models.treeshap import TreeExplainer

    explainer = TreeExplainer(Forest.from_booster(booster))
    out = np.empty(FEATURES + 1)
    for row in rows[:20]:
        explainer.row(row, out)
    times = []
    for row in rows:
        t0 = time.perf_counter_ns()
        explainer.row(row, out)
        times.append(time.perf_counter_ns() - t0)
    margin = booster.inplace_predict(rows[-1:], predict_type="margin")[0]
    # XGBoost sums in float32: its rounding grows with the size of the margin (an amount)
    assert abs(out.sum() - margin) < 1e-4 * max(1.0, abs(margin)), "contributions do not add up"
    return summary_us(np.array(times))


def log(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def summary_us(ns: np.ndarray) -> dict[str, float]:
    return {"median_us": round(float(np.median(ns)) / 1000, 3),
            "p99_us": round(float(np.percentile(ns, 99)) / 1000, 3)}  # fmt: skip


def agree(
    impls: dict[str, dict[str, Callable[..., Any]]], rows: np.ndarray, *, relative: bool = False
) -> float:
    """The largest difference between any implementation and XGBoost, singles and batches
    (relative to the amount, at least 1, for a regression, as the compile check measures)."""
    want = np.asarray(impls["xgboost"]["batch"](rows.astype(np.float32), 1), dtype=np.float64)
    # floor: the amounts' typical size (the compile check uses the model's base score,
    # the mean amount, which it does not have here)
    floor = max(1.0, float(np.median(np.abs(want))))
    scale = np.maximum(floor, np.abs(want)) if relative else np.ones_like(want)
    worst = 0.0
    for impl in impls.values():
        batch = np.asarray(impl["batch"](rows.astype(np.float32), 1), dtype=np.float64)
        singles = np.array([impl["one"](row) for row in rows[:200]])
        worst = max(worst, float((np.abs(batch - want) / scale).max()),
                    float((np.abs(singles - want[:200]) / scale[:200]).max()))  # fmt: skip
    return worst


# -- the driver --------------------------------------------------------------------------


def measure_model(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from compiled_models.compile import compile_model

    trees, depth = MODELS[name]
    x, y = make_data(20_000, seed=1, task=args.task)
    booster = train(x, y, trees, depth, args.task)
    t0 = time.perf_counter()
    report = compile_model(bytes(booster.save_raw("json")), tmp / name, test_rows=x[:5000],
                           train_rows=x[5000:], progress=log)  # fmt: skip
    if report.status != "ok":
        raise SystemExit(f"{name}: compile {report.status}: {report.reason}")
    compile_s = time.perf_counter() - t0
    impls = scorers(booster, tmp / name / report.library, report.library_sha256,
                    report.batch["choice"])
    fresh, _ = make_data(max(args.batch_rows, 2_000), seed=2, task=args.task)
    max_diff = agree(impls, fresh[:2_000], relative=args.task == "regression")
    single = single_rows(impls, fresh[:args.single_calls], args.single_calls)
    batch = batches(impls, np.ascontiguousarray(fresh[:args.batch_rows], np.float32), args.repeats)
    figures = {
        "compile_s": round(compile_s, 1), "variant": report.variant,
        "variants": {v["variant"]: v["latency_us"] for v in report.variants},
        "batch_choice_at_compile": report.batch["choice"], "max_abs_diff": max_diff,
        "single": single, "batch": batch, "reasons": reasons(booster, fresh[:2_000]),
    }  # fmt: skip
    print(json.dumps({name: figures}), file=sys.stderr)
    return figures


def report(figures: dict[str, Any]) -> dict[str, Any]:
    ratios: dict[str, float] = {}
    for name, f in figures.items():
        ours = f["single"]["ours"]["median_us"]
        for peer in ("xgboost", "tl2cgen", "onnxruntime", "library"):
            peer_us = f["single"][peer]["median_us"]
            ratios[f"single_{peer}_over_ours_{name}"] = round(peer_us / ours, 2)
            for t in (1, 2):
                key = f"rows_per_s_{t}t"
                ratios[f"batch_ours_over_{peer}_{name}_{t}t"] = round(
                    f["batch"]["ours"][key] / f["batch"][peer][key], 3)  # fmt: skip
    # the goal is the appliance's batch path (the measured choice); the library's own
    # ratio against XGBoost is printed beside it
    for name, f in figures.items():
        for t in (1, 2):
            key = f"rows_per_s_{t}t"
            ratios[f"batch_library_over_xgboost_{name}_{t}t"] = round(
                f["batch"]["library"][key] / f["batch"]["xgboost"][key], 3)  # fmt: skip
    batch_ratios = [v for k, v in ratios.items() if k.startswith("batch_ours_over_xgboost")]
    met = {
        "single_vs_xgboost_100x4_min":
            ratios["single_xgboost_over_ours_100x4"] >= GOALS["single_vs_xgboost_100x4_min"],
        "single_vs_xgboost_500x6_min":
            ratios["single_xgboost_over_ours_500x6"] >= GOALS["single_vs_xgboost_500x6_min"],
        "batch_vs_xgboost_min": min(batch_ratios) >= GOALS["batch_vs_xgboost_min"],
        "batch_vs_xgboost_stretch": min(batch_ratios) >= GOALS["batch_vs_xgboost_stretch"],
        "reasons_ms_500x6_max":
            figures["500x6"]["reasons"]["median_us"] / 1000 < GOALS["reasons_ms_500x6_max"],
        "agree_1e-5": all(f["max_abs_diff"] <= 1e-5 for f in figures.values()),
    }  # fmt: skip
    return {"benchmark": "scoring", "figures": figures, "ratios": ratios, "goals": GOALS,
            "met": met}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-calls", type=int, default=20_000, help="calls per scorer")
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="rows per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per scorer")
    parser.add_argument("--models", default="100x4,500x6", help="comma-separated: 100x4, 500x6")
    parser.add_argument("--task", choices=("classification", "regression"),
                        default="classification", help="the models' objective")  # fmt: skip
    args = parser.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    if set(names) - set(MODELS) or args.single_calls < 100 or args.batch_rows < 2_000:
        parser.error("models from 100x4,500x6; --single-calls >= 100; --batch-rows >= 2000")
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        figures = {name: measure_model(name, args, Path(tmp)) for name in names}
    for name, f in figures.items():
        print(f"{name}: compiled {f['variant']} in {f['compile_s']} s; max |diff| "
              f"{f['max_abs_diff']:.1e}")  # fmt: skip
        for peer, s in f["single"].items():
            b = f["batch"][peer]
            print(f"  {peer:12s} single median {s['median_us']:9.2f} us  "
                  f"p99 {s['p99_us']:9.2f} us"
                  f"   batch {b['rows_per_s_1t']:>12,.0f} rows/s (1t) "
                  f"{b['rows_per_s_2t']:>12,.0f} rows/s (2t)")  # fmt: skip
        r = f["reasons"]
        print(f"  reasons (TreeSHAP) median {r['median_us']:.1f} us  p99 {r['p99_us']:.1f} us")
    if set(names) != set(MODELS):
        print(json.dumps({"benchmark": "scoring", "task": args.task, "figures": figures,
                          "partial": True}))  # fmt: skip
        return 0
    print(json.dumps({**report(figures), "task": args.task}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
