"""Reason-code benchmark: our exact TreeSHAP against XGBoost's own ``pred_contribs``.

Usage::

    .venv/bin/python benchmarks/bench_treeshap.py [--rows 20000] [--reason-rows 2000]

Trains two models on the same seeded data (``--rows`` rows, 40 features, ~12 % missing,
a non-linear target): 100 trees of depth 4 and 500 trees of depth 6 (untimed; other
shapes with ``--models``, e.g. ``--models 20x3``). Then, per
model, the same contributions (one per feature plus the bias) two ways:

* ours: ``compiled_models.treeshap.TreeExplainer``; single rows through ``row(x, out)``
  on the calling thread (one core), batches through ``contributions(X)`` on numba's
  threads (all cores);
* xgboost: ``Booster.predict(DMatrix(row), pred_contribs=True)`` with ``nthread=1`` (booster
  and DMatrix) for single rows, and on all cores for the batch.

Single rows: ``--reason-rows`` different rows for ours, ``--xgb-rows`` for XGBoost (it is
slow); median and p99 per row in milliseconds. Batch: ``--batch-rows`` rows, best of
``--repeats``. Both ways agree within 1e-4 on the rows explained by both, and ours add
up to XGBoost's margin (checked, reported). Also reported: the time to build the
explainer's schedule, its size, and the first call (numba loading its cached kernels,
or compiling them into the cache once). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEATURES = 40
SEED = 20250611
MODELS = ("100x4", "500x6")
"""Trees x depth of the models trained (``--models`` takes any ``TREESxDEPTH``)."""
GOALS = {"reasons_ms_500x6": 1.0}
AGREE = 1e-4


# -- data and models (untimed) ---------------------------------------------------------


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with missing values (more in some columns) and a non-linear 0/1 target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    x[:, 20:30] = rng.lognormal(0.0, 1.0, size=(rows, 10))
    z = np.nan_to_num(x)
    logit = (z[:, 0] + 0.8 * z[:, 1] * z[:, 2] - 0.6 * np.abs(z[:, 3]) + 0.4 * (z[:, 4] > 1)
             + 0.3 * np.log(z[:, 20]) - 0.2 * z[:, 5:15].sum(axis=1) / 3)  # fmt: skip
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    share = np.where(np.arange(FEATURES) % 5 == 0, 0.3, 0.08)  # every fifth column: 30 %
    x[rng.random(x.shape) < share] = np.nan
    return x, y


def train(x: np.ndarray, y: np.ndarray, trees: int, depth: int) -> Any:
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1,
              "tree_method": "hist", "nthread": os.cpu_count() or 1, "seed": SEED}  # fmt: skip
    return xgb.train(params, xgb.DMatrix(x, y), trees)


# -- the measurements ------------------------------------------------------------------


def ours(booster: Any, rows: np.ndarray, batch: np.ndarray, repeats: int) -> dict[str, Any]:
    from compiled_models.forest import Forest
    from compiled_models.treeshap import TreeExplainer

    start = time.perf_counter()
    forest = Forest.from_json(bytes(booster.save_raw("json")))
    explainer = TreeExplainer(forest)
    built = time.perf_counter() - start
    schedule = explainer.schedule
    size = sum(a.nbytes for a in vars(schedule).values() if isinstance(a, np.ndarray))
    out = np.empty(FEATURES + 1)
    start = time.perf_counter()
    explainer.row(rows[0], out)
    first = time.perf_counter() - start
    times = np.empty(len(rows))
    for i, row in enumerate(rows):
        t0 = time.perf_counter_ns()
        explainer.row(row, out)
        times[i] = time.perf_counter_ns() - t0
    explainer.contributions(batch[:64])  # the parallel kernel's first call, untimed
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        explainer.contributions(batch)
        seconds.append(time.perf_counter() - started)
    return {
        "build_s": round(built, 3), "first_call_s": round(first, 3),
        "schedule_mib": round(size / 2**20, 2), "lanes": schedule.lanes,
        **per_row_ms(times), "batch_s": round(min(seconds), 3),
        "batch_rows_per_s": round(len(batch) / min(seconds)),
    }  # fmt: skip


def xgboost(booster: Any, rows: np.ndarray, batch: np.ndarray, repeats: int) -> dict[str, Any]:
    import xgboost as xgb

    booster.set_param({"nthread": 1})
    booster.predict(xgb.DMatrix(rows[:1], nthread=1), pred_contribs=True)
    times = np.empty(len(rows))
    for i in range(len(rows)):
        t0 = time.perf_counter_ns()
        booster.predict(xgb.DMatrix(rows[i : i + 1], nthread=1), pred_contribs=True)
        times[i] = time.perf_counter_ns() - t0
    booster.set_param({"nthread": os.cpu_count() or 1})
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        booster.predict(xgb.DMatrix(batch), pred_contribs=True)
        seconds.append(time.perf_counter() - started)
    return {**per_row_ms(times), "batch_s": round(min(seconds), 3),
            "batch_rows_per_s": round(len(batch) / min(seconds))}  # fmt: skip


def agreement(booster: Any, rows: np.ndarray) -> dict[str, float]:
    """Largest differences: ours against pred_contribs, and our sums against the margin."""
    import xgboost as xgb

    from compiled_models.forest import Forest
    from compiled_models.treeshap import TreeExplainer

    explainer = TreeExplainer(Forest.from_booster(booster))
    mine = explainer.contributions(rows)
    theirs = booster.predict(xgb.DMatrix(rows), pred_contribs=True)
    margin = booster.predict(xgb.DMatrix(rows), output_margin=True)
    return {
        "max_abs_diff_vs_xgboost": float(np.abs(mine - theirs).max()),
        "max_abs_sum_minus_margin": float(np.abs(mine.sum(axis=1) - margin).max()),
    }


def per_row_ms(ns: np.ndarray) -> dict[str, float]:
    return {"rows": len(ns), "median_ms": round(float(np.median(ns)) / 1e6, 4),
            "p99_ms": round(float(np.percentile(ns, 99)) / 1e6, 4)}  # fmt: skip


# -- reporting (pure) ------------------------------------------------------------------


def report(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Ratios (XGBoost time / ours), goals and whether they are met."""
    ratios: dict[str, float] = {}
    for name, f in figures.items():
        mine, theirs = f["ours"], f["xgboost"]
        row = theirs["median_ms"] / max(mine["median_ms"], 1e-9)  # a timer tick can read 0
        batch = theirs["batch_s"] / max(mine["batch_s"], 1e-9)
        ratios[f"row_xgboost_over_ours_{name}"] = round(row, 1)
        ratios[f"batch_xgboost_over_ours_{name}"] = round(batch, 2)
    met: dict[str, bool | None] = {"reasons_ms_500x6": None}
    if "500x6" in figures:
        met["reasons_ms_500x6"] = figures["500x6"]["ours"]["median_ms"] < GOALS["reasons_ms_500x6"]
    agree = all(f["max_abs_diff_vs_xgboost"] <= AGREE for f in figures.values())
    return {"name": "treeshap", "figures": figures, "ratios": ratios, "goals": GOALS,
            "met": met, "agree": agree}  # fmt: skip


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    libraries = {name: version(name) for name in ("numba", "numpy", "xgboost-cpu")}
    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), **libraries}


def measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    x, y = make_data(args.rows, SEED)
    rng = np.random.default_rng(SEED + 1)
    fresh, _ = make_data(max(args.reason_rows, args.batch_rows), SEED + 2)  # rows never trained on
    rows = fresh[: args.reason_rows]
    batch = fresh[rng.permutation(len(fresh))[: args.batch_rows]]
    figures: dict[str, dict[str, Any]] = {}
    for name in args.models:
        trees, depth = (int(part) for part in name.split("x"))
        started = time.perf_counter()
        booster = train(x, y, trees, depth)
        print(f"{name}: trained in {time.perf_counter() - started:.1f} s", flush=True)
        mine = ours(booster, rows, batch, args.repeats)
        theirs = xgboost(booster, rows[: args.xgb_rows], batch, args.repeats)
        figures[name] = {"ours": mine, "xgboost": theirs,
                         **agreement(booster, rows[: args.xgb_rows])}  # fmt: skip
        print(
            f"{name}: per row ours {mine['median_ms']:.3f} ms (p99 {mine['p99_ms']:.3f}) "
            f"vs xgboost {theirs['median_ms']:.3f} ms (p99 {theirs['p99_ms']:.3f}); "
            f"batch of {len(batch):,} ours {mine['batch_s']:.3f} s vs xgboost "
            f"{theirs['batch_s']:.3f} s; schedule {mine['schedule_mib']} MiB built in "
            f"{mine['build_s']:.2f} s, first call {mine['first_call_s']:.2f} s; max diff "
            f"{figures[name]['max_abs_diff_vs_xgboost']:.1e}",
            flush=True,
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--reason-rows", type=int, default=2_000, help="single rows, ours")
    parser.add_argument("--xgb-rows", type=int, default=200, help="single rows, XGBoost")
    parser.add_argument("--batch-rows", type=int, default=10_000, help="rows in the batch")
    parser.add_argument("--repeats", type=int, default=3, help="batch timings (best kept)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="TREESxDEPTH ...")
    args = parser.parse_args(argv)
    if not all(re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]?", name) for name in args.models):
        parser.error(f"--models takes TREESxDEPTH, like 500x6; got {args.models}")
    if min(args.rows, args.reason_rows, args.xgb_rows, args.batch_rows, args.repeats) < 1:
        parser.error("every count must be at least 1")
    args.xgb_rows = min(args.xgb_rows, args.reason_rows)
    print(f"treeshap benchmark: {args.rows:,} training rows, {FEATURES} features, "
          f"{os.cpu_count()} CPU(s)", flush=True)  # fmt: skip
    result = report(measure(args))
    result["environment"] = environment()
    for key, ratio in result["ratios"].items():
        print(f"{key}: {ratio}x")
    print(f"goal: reasons under {GOALS['reasons_ms_500x6']} ms per row on 500x6: "
          f"{result['met']['reasons_ms_500x6']}")  # fmt: skip
    print(json.dumps(result))
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
