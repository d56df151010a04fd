"""Feature benchmark: point-in-time payment history, the appliance against pandas.

Usage::

    .venv/bin/python benchmarks/bench_features.py [--customers 1000000] [--months 24]

Generates (seeded numpy, untimed) ``customers`` x ``months`` monthly phone bills: a
latent reliability per customer drives late payments (~23 % of bills, days late
roughly exponential), missed bills (~6 %: no paid date, nothing paid) and partial
payments (~6 %); each customer has one as-of date somewhere in the last 6 months of
their bills, and the queries come in shuffled order. Then computes the same features
(``payment_history``: 8 statistics for each of the windows of 3, 6 and 12 months),
two ways:

* appliance: ``EventIndex.build`` over all bills plus ``payment_history``
  (``appliance.features.windows``, numba kernels);
* pandas: the idiomatic peer, a vectorised groupby over a point-in-time filtered
  frame: join each customer's as-of date onto the bills, drop the bills not known
  before it, then per window a mask and one ``groupby`` of sums, counts and maxima,
  from which the ratios, means and the OLS trend (from sums of x, xx, xy) follow.

A bill counts only if its bill date and its paid date (the day it became known; a
missed bill's is its bill date) are before the as-of date. Both paths start from the
same in-memory columns, the customer ids an Arrow string array as read from the lake
(pandas' own string column is Arrow-backed too); the bills are grouped by customer,
as the lake holds them. Each run is a fresh subprocess, the two paths alternating, so
a busy machine slows both alike; only the computation is timed. Each path first runs
on ten customers (its warm-up: the appliance loads its compiled kernels from numba's
cache, pandas its lazily imported internals), reported but not counted; one more
child compiles the kernels into an empty cache, to report the cold compile time.
Peak memory is the process's high-water mark (VmHWM), reset just before the timed
call, so the input data is in ``rss_before`` and not in the increase. Both paths'
features for a sample of a few thousand customers must agree within 1e-9 (relative;
1e-12 absolute). The last line printed is one JSON object.
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


def customer_ids(numbers: np.ndarray) -> Any:
    """``CR0000042``-style ids as a pyarrow string array: a customer_id column of the lake."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unique, inverse = np.unique(numbers, return_inverse=True)
    width = max(7, len(str(int(unique.max(initial=0)))))
    text = pc.utf8_lpad(pc.cast(pa.array(unique), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise("CR", text, "").take(pa.array(inverse))


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
    """The same columns as DataFrames (untimed: a pandas user's data would start here).

    The ids become pandas' default string column, itself backed by Arrow (pandas 3).
    """
    import pandas as pd

    bills = pd.DataFrame(
        {
            "customer": pd.Series(data["customer_id"], dtype="str"),
            "bill_day": data["bill_day"],
            "paid_day": data["paid_day"],
            "billed": data["billed"],
            "paid": data["paid"],
            "days_late": data["days_late"],
        }
    )
    queries = pd.DataFrame(
        {"customer": pd.Series(data["query_customer_id"], dtype="str"), "as_of": data["as_of"]}
    )
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
    """A ``/proc/self/status`` figure (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the high-water mark (VmHWM) so that it covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def save_data(data: dict[str, np.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, values in data.items():
        np.save(folder / f"{name}.npy", values)


def load_data(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}
    data["customer_id"] = customer_ids(data["customer"])
    data["query_customer_id"] = customer_ids(data["query_customer"])
    return data


def child(kind: str, folder: Path, sample_path: Path) -> dict[str, Any]:
    """One timed run of one path, in a fresh process; the sample of features is saved."""
    data = load_data(folder)
    if kind == "compile":
        return {"kind": kind, "compile_s": _warm_up(data)}
    result = {"kind": kind, "rows": len(data["bill_day"]), "warm_up_s": _warm_up(data, kind)}
    if kind == "appliance":

        def call() -> dict[str, np.ndarray]:
            return appliance_features(data)

    else:
        bills, queries = pandas_frames(data)

        def call() -> dict[str, np.ndarray]:
            return pandas_features(bills, queries)

    reset = _reset_peak()
    rss_before = _memory_kib("VmRSS")
    start = time.perf_counter()
    features = call()
    seconds = time.perf_counter() - start
    # without a resettable high-water mark: the whole process's peak (ru_maxrss, KiB)
    peak = _memory_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    customers = len(data["as_of"])
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


def _warm_up(data: dict[str, Any], kind: str = "appliance") -> float:
    """Seconds for a first call on ten customers: the appliance loads (or compiles) its
    kernels, pandas its lazily imported internals. Not counted in the timings."""
    tiny = {k: v[:240] for k, v in data.items() if k not in ("query_customer_id", "as_of")}
    tiny["query_customer_id"] = data["customer_id"][:240].take(np.arange(0, 240, 24))
    tiny["as_of"] = data["bill_day"][12:240:24]
    start = time.perf_counter()
    if kind == "appliance":
        appliance_features(tiny)
    else:
        pandas_features(*pandas_frames(tiny))
    return time.perf_counter() - start


def spawn(kind: str, folder: Path, sample: Path, env: dict[str, str]) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--child", kind, "--data", str(folder)]
    done = subprocess.run(
        [*command, "--sample", str(sample)], capture_output=True, text=True, env=env, check=False
    )
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


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max over the repeats of one path."""
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    peak = statistics.median(r["peak_rss_kib"] for r in runs)
    before = statistics.median(r["rss_before_kib"] for r in runs)
    out = {
        "seconds_median": round(median, 3),
        "seconds_min": round(min(seconds), 3),
        "seconds_max": round(max(seconds), 3),
        "repeats": len(runs),
        "rows_per_s": round(runs[0]["rows"] / median),
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_before_mib": round(before / 1024, 1),
        "peak_increase_mib": round(max(0.0, peak - before) / 1024, 1),
    }
    out["warm_up_s"] = round(statistics.median(r["warm_up_s"] for r in runs), 3)
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
    cold = figures["compile_s"]
    print(
        f"kernels: cold compile {'not timed' if cold is None else f'{cold:.2f} s'}, "
        f"warm-up from cache {app['warm_up_s']:.2f} s (pandas' warm-up "
        f"{peer['warm_up_s']:.2f} s; none counted above)"
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
    started = time.perf_counter()
    save_data(generate(args.customers, args.months, SEED), tmp / "data")
    print(f"generated the bills in {time.perf_counter() - started:.1f} s", flush=True)
    compile_s = None
    if args.cold_compile:
        cache = {**env, "NUMBA_CACHE_DIR": str(tmp / "numba-cache")}
        compile_s = round(
            spawn("compile", tmp / "data", tmp / "compile.npz", cache)["compile_s"], 3
        )
        print(f"cold compile of the kernels (empty cache): {compile_s:.2f} s", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ("appliance", "pandas")}
    for repeat in range(args.repeats):  # alternating, so a busy machine slows both alike
        for kind, kind_runs in runs.items():
            run = spawn(kind, tmp / "data", tmp / f"{kind}.npz", env)
            kind_runs.append(run)
            print(
                f"  repeat {repeat + 1} {kind:<10} {run['seconds']:6.2f} s"
                f"  peak RSS {run['peak_rss_kib'] / 1024:6.0f} MiB"
                f" (+{(run['peak_rss_kib'] - run['rss_before_kib']) / 1024:.0f} MiB)",
                flush=True,
            )
    figures: dict[str, Any] = {"compile_s": compile_s}
    figures.update({kind: summarise(kind_runs) for kind, kind_runs in runs.items()})
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
    parser.add_argument(
        "--no-cold-compile",
        dest="cold_compile",
        action="store_false",
        help="skip timing a compile into an empty numba cache (~8 s)",
    )
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(args.child, args.data, args.sample)))
        return 0
    if args.customers < 10 or args.months < 12 or args.repeats < 1:
        parser.error("need --customers >= 10, --months >= 12 and --repeats >= 1")
    print(
        f"features benchmark: {args.customers:,} customers x {args.months} bills "
        f"({args.customers * args.months:,} rows), windows {WINDOWS}, "
        f"{args.repeats} repeat(s), {os.cpu_count()} CPU(s), fresh subprocess per run",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        figures = measure(args, Path(tmp))
    print(json.dumps(report(args, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
