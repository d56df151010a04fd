"""Drift benchmark: PSI and KS for many features, the appliance against numpy and scipy.

Usage::

    .venv/bin/python benchmarks/bench_drift.py [--rows 1000000] [--features 30] [--repeats 3]

Generates (seeded numpy, untimed) ``rows`` reference rows and ``rows`` current rows of
``features`` float64 features: a third unchanged, a third mildly shifted (mean +0.02
sd: the regime where KS p-values are neither 0 nor 1), a third strongly shifted (mean
+0.3 sd, scale x1.2); 0.1 % missing (NaN) in every column. For every feature it
computes PSI on 10 quantile bins of the reference and the two-sample KS statistic with
its p-value, three ways, side by side in one process:

* appliance: ``appliance.monitoring.compare_columns`` (no full sort: both samples are
  counted into shared value buckets in one compiled pass each, and only the buckets the
  exact quantiles, bin counts and KS gap depend on are gathered, sorted and walked; see
  ``appliance.monitoring.buckets``; columns on a 2-thread pool);
* numpy: the best plain numpy path: sort both, edges from ``np.quantile``, bin counts
  by ``searchsorted`` + ``bincount``, KS by ``searchsorted`` of the pooled values into
  both sorted samples (scipy's own method); the same 2-thread pool over columns;
* numpy_scipy: the same PSI and ``scipy.stats.ks_2samp`` per feature, one thread (what
  a data scientist writes).

PSI and KS statistics must agree within 1e-9 across the three; KS p-values are
scipy's asymptotic ones up to an effective size of 10,000 and, above it, within the
printed maximum difference of them (the appliance uses the limiting distribution
there, microseconds against up to a second per feature; see
``appliance.monitoring.samples``). Each figure is the best of ``repeats`` runs (median
printed too), the paths interleaved so a busy machine slows all alike; the appliance's
compiled kernel is loaded from numba's cache in an untimed warm-up. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 20250601
BINS = 10
TOL = 1e-9
GOALS = {"numpy_scipy_over_appliance_min": 5.0, "numpy_over_appliance_min": 3.0,
         "appliance_seconds_max": 1.5}  # fmt: skip


def generate(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-major (rows, features) reference and current samples."""
    rng = np.random.default_rng(seed)
    ref = np.empty((rows, features), order="F")
    cur = np.empty((rows, features), order="F")
    for j in range(features):
        ref[:, j] = rng.normal(0.0, 1.0, rows)
        shift, scale = [(0.0, 1.0), (0.02, 1.0), (0.3, 1.2)][j % 3]
        cur[:, j] = rng.normal(shift, scale, rows)
        for column in (ref, cur):
            column[rng.choice(rows, rows // 1000, replace=False), j] = np.nan
    return ref, cur


def _psi_numpy(r: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray]:
    edges = np.unique(np.quantile(r, np.linspace(0, 1, BINS + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1) / r.size
    a = np.bincount(np.searchsorted(edges, c, side="right"), minlength=edges.size + 1) / c.size
    e, a = np.maximum(e, 1e-4), np.maximum(a, 1e-4)
    return float(np.sum((a - e) * np.log(a / e))), edges


def numpy_path(ref: np.ndarray, cur: np.ndarray) -> list[tuple[float, float, float]]:
    """Sort + quantile + searchsorted, columns on two threads."""
    from appliance.monitoring.samples import ks_p_value

    def one(j: int) -> tuple[float, float, float]:
        r = np.sort(ref[:, j])
        c = np.sort(cur[:, j])
        r, c = r[: np.searchsorted(r, np.nan)], c[: np.searchsorted(c, np.nan)]
        psi, _ = _psi_numpy(r, c)
        pooled = np.concatenate([r, c])
        gap = (np.searchsorted(r, pooled, side="right") / r.size
               - np.searchsorted(c, pooled, side="right") / c.size)  # fmt: skip
        d = float(np.max(np.abs(gap)))
        return psi, d, ks_p_value(d, r.size, c.size)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, range(ref.shape[1])))


def numpy_scipy_path(ref: np.ndarray, cur: np.ndarray) -> list[tuple[float, float, float]]:
    """numpy PSI + scipy.stats.ks_2samp, one feature after another."""
    from scipy.stats import ks_2samp

    out = []
    for j in range(ref.shape[1]):
        r, c = ref[:, j], cur[:, j]
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        psi, _ = _psi_numpy(r, c)
        test = ks_2samp(r, c)
        out.append((psi, float(test.statistic), float(test.pvalue)))
    return out


def appliance_path(ref: np.ndarray, cur: np.ndarray) -> list[tuple[float, float, float]]:
    from appliance.monitoring import compare_columns

    return [(float(r.psi or 0), float(r.ks or 0), float(r.ks_p or 0))
            for r in compare_columns(ref, cur, threads=2)]  # fmt: skip


PATHS = {"appliance": appliance_path, "numpy": numpy_path, "numpy_scipy": numpy_scipy_path}


def agreement(results: dict[str, list[tuple[float, float, float]]]) -> dict[str, Any]:
    ours = np.asarray(results["appliance"])
    out: dict[str, Any] = {}
    for name in ("numpy", "numpy_scipy"):
        theirs = np.asarray(results[name])
        out[f"{name}_max_abs_diff_psi"] = float(np.max(np.abs(ours[:, 0] - theirs[:, 0])))
        out[f"{name}_max_abs_diff_ks"] = float(np.max(np.abs(ours[:, 1] - theirs[:, 1])))
        out[f"{name}_max_abs_diff_ks_p"] = float(np.max(np.abs(ours[:, 2] - theirs[:, 2])))
    out["statistics_agree"] = all(v <= TOL for k, v in out.items() if not k.endswith("_p"))
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    ref, cur = generate(args.rows, args.features, SEED)
    started = time.perf_counter()
    appliance_path(ref[:1000, :2], cur[:1000, :2])  # load the kernel from numba's cache
    warm_up = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in PATHS}
    results: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name, path in PATHS.items():
            t = time.perf_counter()
            results[name] = path(ref, cur)
            times[name].append(time.perf_counter() - t)
            print(f"{name:>12}: {times[name][-1]:7.3f} s", file=sys.stderr)
    figures: dict[str, Any] = {
        name: {"best_s": min(ts), "median_s": statistics.median(ts)} for name, ts in times.items()
    }
    figures["warm_up_s"] = warm_up
    figures.update(agreement(results))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    figures = measure(args)
    best = {name: figures[name]["best_s"] for name in PATHS}
    ratios = {
        "numpy_scipy_over_appliance": best["numpy_scipy"] / best["appliance"],
        "numpy_over_appliance": best["numpy"] / best["appliance"],
        "appliance_seconds": best["appliance"],
    }
    met = {
        "numpy_scipy_over_appliance_min": ratios["numpy_scipy_over_appliance"] >= 5.0,
        "numpy_over_appliance_min": ratios["numpy_over_appliance"] >= 3.0,
        "appliance_seconds_max": ratios["appliance_seconds"] < 1.5,
        "statistics_agree": bool(figures["statistics_agree"]),
    }
    for name in PATHS:
        print(f"{name:>12}: best {best[name]:.3f} s, median {figures[name]['median_s']:.3f} s")
    print(f"numpy+scipy / appliance {ratios['numpy_scipy_over_appliance']:.1f}x, "
          f"numpy / appliance {ratios['numpy_over_appliance']:.1f}x; statistics agree: "
          f"{figures['statistics_agree']}; max |dp| vs scipy "
          f"{figures['numpy_scipy_max_abs_diff_ks_p']:.2e}")  # fmt: skip
    print(json.dumps({
        "benchmark": "drift", "rows": args.rows, "features": args.features,
        "figures": figures, "ratios": ratios, "goals": GOALS, "met": met,
        "cpus": os.cpu_count(),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
