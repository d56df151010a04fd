"""Feature benchmark: point-in-time payment history, the appliance against pandas.

Usage::

    .venv/bin/python benchmarks/bench_features.py [--customers 1000000] [--months 24]

Generates (seeded numpy) ``customers`` x ``months`` monthly phone bills: a latent
reliability per customer drives late payments (~25 % of bills, days late roughly
exponential), missed bills (~5 %, no paid date, nothing paid) and partial payments;
each customer has one as-of date somewhere in the last 6 months of their bills. Then
computes the same features, for windows of 3, 6 and 12 months, two ways, each in a
fresh subprocess:

* appliance: ``EventIndex.build`` over all bills plus ``payment_history``
  (``appliance.features.windows``, numba kernels);
* pandas: the idiomatic peer, a vectorised groupby over a point-in-time filtered
  frame: merge each customer's as-of date onto the bills, drop what is not known
  before it (bill date or paid date not before the as-of date), then per window a
  mask and one ``groupby("customer")`` of sums, counts and maxima, from which the
  ratios, means and the OLS trend (from sums of x, y, xy, xx) follow.

Bills are point-in-time: a bill counts only if its bill date and its paid date (the
date it became known; a missed bill's is its bill date) are before the as-of date.
Both paths start from the same in-memory columns (numpy arrays for one, the
equivalent DataFrames for the other); generating them is not timed. The appliance
runs once on a tiny slice first (its warm-up: loading or compiling the kernels),
reported but not counted; a separate child compiles the kernels with an empty numba
cache, to report the cold compile time. Each path is timed over ``--repeats`` runs in
its process (median). Peak memory is the process's high-water mark (VmHWM) during the
timed runs, reset after data generation. Both paths' features for a sample of a few
thousand customers must agree within 1e-9 (relative; 1e-12 absolute). The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED = 20250417
WINDOWS = (3, 6, 12)
SAMPLE = 3000
GOAL = 10.0
RTOL, ATOL = 1e-9, 1e-12
KINDS = ("appliance", "pandas", "compile")

# -- data -------------------------------------------------------------------------------


def generate(customers: int, months: int, seed: int) -> dict[str, np.ndarray]:
    """Bills (grouped by customer, in month order) and one query per customer (shuffled)."""
    rng = np.random.default_rng(seed)
    n, m = customers, months
    first = np.datetime64("2022-07", "M") + rng.integers(0, 12, n)
    bill_day = (first[:, None] + np.arange(m)).astype("datetime64[D]")
    z = rng.normal(0.0, 1.0, (n, 1))
    u = rng.random((6, n, m))
    missed = u[0] < _sigmoid(-3.3 - 1.1 * z)
    late = ~missed & (u[1] < _sigmoid(-1.3 - 1.0 * z))
    scale = np.clip(6.0 * np.exp(-0.5 * z), 1, 40)
    days_late = np.where(late, np.minimum(1 + np.floor(-np.log1p(-u[2]) * scale), 120), 0.0)
    early = np.where(late | missed, 0, np.floor(u[3] * 8)).astype(np.int64)
    partial = ~missed & (u[4] < _sigmoid(-3.0 - 0.9 * z))
    drift = 1 + rng.normal(0, 0.01, (n, 1)) * np.arange(m)  # a slow trend in the amounts
    plan = rng.lognormal(np.log(80.0), 0.5, (n, 1)) * drift
    billed = np.round(plan * (0.85 + 0.35 * u[5]), 2)
    paid = np.where(missed, 0.0, np.round(billed * np.where(partial, 0.3 + 0.6 * u[4], 1.0), 2))
    due = bill_day + (rng.choice([5, 10, 15, 20, 25], (n, 1)) - 1)
    paid_day = due + (days_late.astype(np.int64) - early)
    paid_day[missed] = np.datetime64("NaT")
    days_late[missed] = np.nan
    recent = (first + max(m - 6, 0)).astype("datetime64[D]")
    span = ((first + m).astype("datetime64[D]") - recent).astype(np.int64)
    as_of = recent + np.floor(rng.random(n) * span).astype(np.int64)
    order = rng.permutation(n)
    return {
        "customer": np.repeat(np.arange(1, n + 1), m),
        "bill_day": bill_day.ravel(),
        "paid_day": paid_day.ravel(),
        "billed": billed.ravel(),
        "paid": paid.ravel(),
        "days_late": days_late.ravel(),
        "query_customer": order + 1,
        "as_of": as_of[order],
    }


def customer_ids(numbers: np.ndarray) -> np.ndarray:
    """``CR0000042``-style ids, an object array of str (what the lake's columns become)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unique, inverse = np.unique(numbers, return_inverse=True)
    width = max(7, len(str(int(unique.max(initial=0)))))
    text = pc.utf8_lpad(pc.cast(pa.array(unique), pa.string()), width=width, padding="0")
    ids = pc.binary_join_element_wise("CR", text, "").to_numpy(zero_copy_only=False)
    return ids[inverse]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# -- the two paths ---------------------------------------------------------------------


def appliance_features(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from appliance.features.windows import EventIndex, payment_history

    index = EventIndex.build(
        data["customer_id"],
        data["bill_day"],
        data["paid_day"],
        {name: data[name] for name in ("billed", "paid", "days_late")},
    )
    return payment_history(index, data["query_customer_id"], data["as_of"], WINDOWS)


def pandas_frames(data: dict[str, np.ndarray]) -> tuple[Any, Any]:
    """The same columns as DataFrames (untimed: a pandas user's data would start here)."""
    import pandas as pd

    bills = pd.DataFrame(
        {
            "customer": data["customer_id"],
            "bill_day": data["bill_day"],
            "paid_day": data["paid_day"],
            "billed": data["billed"],
            "paid": data["paid"],
            "days_late": data["days_late"],
        }
    )
    queries = pd.DataFrame({"customer": data["query_customer_id"], "as_of": data["as_of"]})
    return bills, queries


def pandas_features(bills: Any, queries: Any) -> dict[str, np.ndarray]:
    """payment_history's columns for windows 3/6/12, written the idiomatic pandas way."""
    import pandas as pd

    q = queries.set_index("customer")
    q["query"] = np.arange(len(q))  # group by the query (an application id, say), an int
    for w in WINDOWS:
        q[f"start_{w}"] = q.as_of - pd.DateOffset(months=w)
    # A left join on the index was the fastest way to attach the as-of dates (merge
    # took 2-4 times as long); customers without a query get NaT and drop out below.
    df = bills.join(q, on="customer")
    known = (df.bill_day < df.as_of) & ~(df.paid_day >= df.as_of)
    df = df[known & (df.bill_day >= df[f"start_{max(WINDOWS)}"])]
    late, paid, billed = df.days_late, df.paid, df.billed
    has_bill = billed.notna()
    x = pd.Series(_months(df.bill_day) - _months(df.as_of), index=df.index)
    frame = pd.DataFrame(
        {
            "query": df["query"],
            "on_time": late == 0,
            "late": late,
            "missed": late.isna() & ((paid == 0) | paid.isna()),
            "partial": (paid > 0) & (paid < billed),
            "paid": paid.fillna(0).where(has_bill),
            "billed": billed,
            "x": x.where(has_bill),
            "xx": (x * x).where(has_bill),
            "xy": x * billed,
        }
    )
    out: dict[str, np.ndarray] = {}
    for w in WINDOWS:
        groups = frame[df.bill_day >= df[f"start_{w}"]].groupby("query")
        sums = groups[["on_time", "late", "missed", "partial", "paid", "billed", "x", "xx", "xy"]]
        counts = groups[["late", "billed"]].count().add_prefix("n_")
        agg = pd.concat(
            [sums.sum(), groups.late.max().rename("late_max"), counts, groups.size().rename("n")],
            axis=1,
        )
        out.update(_pandas_window(agg.reindex(pd.RangeIndex(len(queries))), w))
    return out


def _months(days: Any) -> Any:
    return days.to_numpy().astype("datetime64[M]").astype(np.int64)


def _pandas_window(agg: Any, w: int) -> dict[str, np.ndarray]:
    n = agg.n.fillna(0)
    nb = agg.n_billed
    cxx = agg.xx - agg.x**2 / nb
    cxy = agg.xy - agg.x * agg.billed / nb
    mean = agg.billed / nb
    trend = (cxy / cxx / mean).where((nb >= 2) & (cxx > 0) & (mean != 0))
    columns = {
        "n_bills": n,
        "on_time_ratio": agg.on_time / agg.n,
        "max_days_late": agg.late_max,
        "mean_days_late": (agg.late / agg.n_late).where(agg.n_late > 0),
        "missed": agg.missed.fillna(0),
        "partial": agg.partial.fillna(0),
        "paid_ratio": (agg.paid / agg.billed).where(agg.billed != 0),
        "amount_trend": trend,
    }
    return {f"pay_{k}_{w}m": v.to_numpy(np.float64, na_value=np.nan) for k, v in columns.items()}


# -- one measured path, in a child process ---------------------------------------------


def _memory_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    """Reset the high-water mark (VmHWM) so it covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def child(kind: str, customers: int, months: int, repeats: int, sample_path: Path) -> dict:
    data = generate(customers, months, SEED)
    data["customer_id"] = customer_ids(data["customer"])
    data["query_customer_id"] = customer_ids(data["query_customer"])
    if kind == "compile":
        return {"kind": kind, "compile_s": _warm_up(data)}
    result: dict[str, Any] = {"kind": kind, "rows": len(data["bill_day"])}
    if kind == "appliance":
        result["warm_up_s"] = _warm_up(data)

        def call() -> dict[str, np.ndarray]:
            return appliance_features(data)

    else:
        bills, queries = pandas_frames(data)

        def call() -> dict[str, np.ndarray]:
            return pandas_features(bills, queries)

    reset = _reset_peak()
    rss_before = _memory_kib("VmRSS")
    seconds = []
    for _ in range(repeats):
        features: dict[str, np.ndarray] = {}  # the previous run's are freed first
        start = time.perf_counter()
        features = call()
        seconds.append(time.perf_counter() - start)
    peak = _memory_kib("VmHWM" if reset else "ru_maxrss")
    picks = np.random.default_rng(SEED).choice(customers, min(SAMPLE, customers), replace=False)
    sample: dict[str, Any] = {k: v[picks] for k, v in features.items()}
    np.savez(sample_path, **sample)
    return {
        **result,
        "seconds": seconds,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak,
        "peak_is_high_water_mark": reset,
    }


def _warm_up(data: dict[str, np.ndarray]) -> float:
    """Seconds for the first call on a tiny slice: kernels loaded from cache or compiled."""
    tiny = {k: v[:240] for k, v in data.items() if k not in ("query_customer_id", "as_of")}
    tiny["query_customer_id"] = data["customer_id"][:240:24]
    tiny["as_of"] = data["bill_day"][12:240:24]
    start = time.perf_counter()
    appliance_features(tiny)
    return time.perf_counter() - start


def spawn(kind: str, args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--customers",
        str(args.customers),
        "--months",
        str(args.months),
        "--repeats",
        str(args.repeats),
        "--sample",
        str(tmp / f"{kind}.npz"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- comparing and reporting (pure) ----------------------------------------------------


def agreement(ours: Any, theirs: Any) -> tuple[bool, float, list[str]]:
    """Whether every sampled feature agrees; the largest relative difference (where the
    pandas value is at least 1e-6 in size); the names of those that differ."""
    differ, worst = [], 0.0
    for name in sorted(set(ours) | set(theirs)):
        if name not in ours or name not in theirs:
            differ.append(name)
            continue
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
            differ.append(name)
        scaled = ~np.isnan(a) & ~np.isnan(b) & (np.abs(b) >= 1e-6)
        relative = np.abs(a[scaled] - b[scaled]) / np.abs(b[scaled])
        worst = max(worst, float(np.max(relative, initial=0.0)))
    return not differ, worst, differ


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    median = statistics.median(run["seconds"])
    out = {
        "seconds_median": round(median, 3),
        "seconds_min": round(min(run["seconds"]), 3),
        "seconds_max": round(max(run["seconds"]), 3),
        "repeats": len(run["seconds"]),
        "rows_per_s": round(run["rows"] / median),
        "peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1),
        "rss_before_mib": round(run["rss_before_kib"] / 1024, 1),
        "peak_increase_mib": round(max(0, run["peak_rss_kib"] - run["rss_before_kib"]) / 1024, 1),
    }
    if "warm_up_s" in run:
        out["warm_up_s"] = round(run["warm_up_s"], 3)
    return out


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    libraries = {name: version(name) for name in ("numba", "numpy", "pandas", "pyarrow")}
    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), **libraries}


def report(args: argparse.Namespace, figures: dict[str, Any]) -> dict[str, Any]:
    app, peer = figures["appliance"], figures["pandas"]
    ratio = round(peer["seconds_median"] / app["seconds_median"], 2)
    for label in ("appliance", "pandas"):
        f = figures[label]
        print(
            f"{label:<10} median {f['seconds_median']:.2f} s (min {f['seconds_min']:.2f},"
            f" max {f['seconds_max']:.2f}), {f['rows_per_s']:,} rows/s,"
            f" peak RSS {f['peak_rss_mib']} MiB (+{f['peak_increase_mib']} MiB over the inputs)"
        )
    print(
        f"kernels: cold compile {figures['compile_s']:.2f} s, warm-up from cache "
        f"{app['warm_up_s']:.2f} s (neither counted above)"
    )
    print(
        f"sample of {figures['sample']} customers: "
        + ("features agree" if figures["features_agree"] else "FEATURES DIFFER")
        + f" (max relative difference {figures['max_relative_difference']:.1e})"
    )
    print(f"pandas / appliance: {ratio}x (goal >= {GOAL:g})")
    return {
        "benchmark": "features",
        "rows": args.customers * args.months,
        "customers": args.customers,
        "figures": figures,
        "ratios": {"pandas_over_appliance": ratio},
        "goals": {"pandas_over_appliance_min": GOAL},
        "met": {"pandas_over_appliance_min": ratio >= GOAL},
    }


# -- the driver ------------------------------------------------------------------------


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    cold = spawn("compile", args, tmp, {**env, "NUMBA_CACHE_DIR": str(tmp / "numba-cache")})
    print(f"cold compile of the kernels (empty cache): {cold['compile_s']:.2f} s", flush=True)
    figures: dict[str, Any] = {"compile_s": round(cold["compile_s"], 3)}
    for kind in ("appliance", "pandas"):
        run = spawn(kind, args, tmp, env)
        figures[kind] = summarise(run)
        print(
            f"  {kind:<10} {', '.join(f'{s:.2f}' for s in run['seconds'])} s"
            f"  peak RSS {run['peak_rss_kib'] / 1024:.0f} MiB",
            flush=True,
        )
    with np.load(tmp / "appliance.npz") as ours, np.load(tmp / "pandas.npz") as theirs:
        agree, worst, differ = agreement(dict(ours), dict(theirs))
    figures["sample"] = min(SAMPLE, args.customers)
    figures["features_agree"] = agree
    figures["features_differ"] = differ
    figures["max_relative_difference"] = worst
    figures["environment"] = environment()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers")
    parser.add_argument("--months", type=int, default=24, help="monthly bills per customer")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(ROOT))
        run = child(args.child, args.customers, args.months, args.repeats, args.sample)
        print(json.dumps(run))
        return 0
    if args.customers < 10 or args.months < 12 or args.repeats < 1:
        parser.error("need --customers >= 10, --months >= 12 and --repeats >= 1")
    print(
        f"features benchmark: {args.customers:,} customers x {args.months} bills "
        f"({args.customers * args.months:,} rows), windows {WINDOWS}, "
        f"{args.repeats} repeat(s), {os.cpu_count()} CPU(s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        figures = measure(args, Path(tmp))
    print(json.dumps(report(args, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
