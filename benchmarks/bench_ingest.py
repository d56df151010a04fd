"""Ingest benchmark: the appliance against the same cleaning written in pandas.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--repeats 3]

Writes a messy card-fraud CSV (``appliance.demo.fraud``: ';'-delimited, accented
headers, dd/mm/yyyy dates, "1.234,56" amounts, a quoted key:value device column,
NFD and space-padded labels, 0.1 % broken rows) and ingests it two ways, each in a
fresh subprocess per repeat so imports and caches do not leak between runs:

* appliance: ``ingest_file`` with the shipped ``fraud_transactions`` source schema
  (all cleaning and validation on, lake + quarantine Parquet, store records);
* pandas: ``read_csv(dtype=str)`` then the same checks as a data scientist writes
  them today (``.str`` methods, ``to_numeric``/``to_datetime`` with coerce, a dict
  ``apply`` for the device column, ``.isin``, ``.duplicated``), valid rows and a
  quarantine with a reason column written with ``to_parquet``.

Only the ingest itself is timed (not interpreter start, imports, or data generation).
One untimed appliance run comes first to warm the file system cache for both paths.
Each child reports its resident memory just before the timed call and
its peak (``ru_maxrss``) after; the difference is the ingest's peak increase.

The appliance also ingests a file of rows/10 to check streaming: ten times the rows
must not need ten times the memory. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "appliance" / "defaults" / "sources" / "fraud_transactions.toml"
SEED = 20250401
GOALS = {"speedup_vs_pandas": ">= 5", "memory_growth_10x_rows": "< 3"}
KINDS = ("appliance", "pandas")

# -- the pandas peer: what the fraud_transactions.toml schema says, written by hand ------

RENAME = {
    "ID Transação": "transaction_id",
    "Data Transação": "transaction_date",
    "Hora": "transaction_time",
    "Valor (R$)": "amount",
    "Categoria Estabelecimento": "merchant_category",
    "Dispositivo": "device",
    "Cartão Presente": "card_present",
    "País": "country",
    "ID Cliente": "customer_id",
    "Fraude": "is_fraud",
}
CATEGORIES = [
    "Alimentação",
    "Supermercado",
    "Eletrônicos",
    "Farmácia",
    "Viagens e Turismo",
    "Serviços",
    "Combustível",
    "Vestuário",
    "Entretenimento",
    "Jogos e Apostas",
]
COUNTRIES = ["BR", "AR", "UY", "PY", "PT", "US", "CN", "NG"]
CARD_PRESENT = {"s": True, "sim": True, "n": False, "não": False, "nao": False}
TRUSTED = {
    "sim": True,
    "s": True,
    "true": True,
    "não": False,
    "nao": False,
    "n": False,
    "false": False,
}
# A well-formed "1.234,56": without this check to_numeric(errors="coerce") would accept
# a misgrouped "1.23,4" as 123.4, which the appliance quarantines. It is here so both
# paths apply the same rules and their counts can be compared.
AMOUNT_SHAPE = r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+)(?:,\d*)?|[+-]?,\d+"

Check = tuple[str, Any, str]  # (column, boolean Series: row fails, reason)


def pandas_clean(raw: Any) -> tuple[Any, list[Check]]:
    """Typed columns and the failed checks, from the all-text frame read_csv gives."""
    import pandas as pd

    df = raw.rename(columns=RENAME)
    for column in df.columns:
        df[column] = df[column].str.strip()
    out = pd.DataFrame(index=df.index)
    checks: list[Check] = []
    for column, pattern in (
        ("transaction_id", r"TX[0-9]{10}"),
        ("transaction_time", r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"),
        ("customer_id", r"BK[0-9]{7}"),
    ):
        out[column] = df[column]
        checks.append((column, ~df[column].str.fullmatch(pattern), "does not match pattern"))
    out["transaction_date"] = pd.to_datetime(
        df.transaction_date, format="%d/%m/%Y", errors="coerce"
    )
    checks.append(("transaction_date", out.transaction_date.isna(), "not a dd/mm/yyyy date"))
    checks.append(("transaction_date", out.transaction_date < "2015-01-01", "before 2015"))
    checks.extend(_pandas_amount(df, out))
    out["merchant_category"] = df.merchant_category.str.normalize("NFC")
    checks.append(("merchant_category", ~out.merchant_category.isin(CATEGORIES), "not allowed"))
    checks.extend(_pandas_device(df, out))
    out["card_present"] = df.card_present.str.lower().map(CARD_PRESENT)
    checks.append(("card_present", out.card_present.isna(), "not S/N"))
    out["country"] = df.country.str.upper()
    checks.append(("country", ~out.country.isin(COUNTRIES), "not allowed"))
    out["is_fraud"] = pd.to_numeric(df.is_fraud, errors="coerce")
    checks.append(("is_fraud", ~out.is_fraud.isin([0, 1]), "not 0 or 1"))
    return out, checks


def _pandas_amount(df: Any, out: Any) -> list[Check]:
    import pandas as pd

    text = df.amount.str.replace("R$", "", regex=False).str.strip()
    number = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    out["amount"] = pd.to_numeric(number, errors="coerce")
    return [
        ("amount", ~text.str.fullmatch(AMOUNT_SHAPE) | out.amount.isna(), "not a number"),
        ("amount", (out.amount < 0) | (out.amount > 1_000_000), "out of range 0..1000000"),
    ]


def _pandas_device(df: Any, out: Any) -> list[Check]:
    import pandas as pd

    # The appliance also NFC-normalises this text (a schema default); a user would not,
    # so the peer skips it: the device strings are ASCII, and pandas is spared ~0.5 s.
    pairs = df.device.apply(lambda s: dict(kv.split(":", 1) for kv in s.split(";") if ":" in kv))
    device = pd.DataFrame(
        pairs.tolist(), index=df.index, columns=["os", "trusted", "app_version"], dtype="str"
    )
    for column in device.columns:
        device[column] = device[column].str.strip()
    out["device_os"] = device.os
    out["device_trusted"] = device.trusted.str.lower().map(TRUSTED)
    out["device_app_version"] = device.app_version
    return [
        (
            "device",
            ~df.device.str.fullmatch(r"(?:[^;:]+:[^;]*)(?:;[^;:]+:[^;]*)*;?"),
            "not key:value pairs",
        ),
        (
            "device_os",
            device.os.notna() & ~device.os.isin(["android", "ios", "web"]),
            "not allowed",
        ),
        ("device_trusted", device.trusted.notna() & out.device_trusted.isna(), "not yes/no"),
        (
            "device_app_version",
            device.app_version.notna() & ~device.app_version.str.fullmatch(r"[0-9]+\.[0-9]+"),
            "bad version",
        ),
    ]


def pandas_ingest(csv_path: Path, work: Path) -> dict[str, Any]:
    """Read, clean, validate, split and write; returns the row accounting."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(csv_path, sep=";", dtype=str, keep_default_na=False)
    out, checks = pandas_clean(raw)
    invalid = np.logical_or.reduce([mask.to_numpy(dtype=bool) for _, mask, _ in checks])
    duplicate = out.transaction_id.where(~invalid).duplicated() & ~invalid
    checks.append(("transaction_id", duplicate, "duplicate primary key"))
    invalid |= duplicate.to_numpy()
    column = pd.Series("", index=raw.index)
    reason = pd.Series("", index=raw.index)
    for name, mask, why in checks:
        column[mask & (column == "")] = name
        reason[mask] += f"{name}: {why}; "
    valid = out[~invalid].astype({"is_fraud": "int64", "card_present": "bool"})
    valid.to_parquet(work / "fraud_transactions.parquet", engine="pyarrow", index=False)
    rejected = raw[invalid].assign(
        _record=np.flatnonzero(invalid) + 1, _column=column[invalid], _reason=reason[invalid]
    )
    rejected.to_parquet(work / "quarantine.parquet", engine="pyarrow", index=False)
    by_column = rejected["_column"].value_counts().to_dict()
    return _counts(len(raw), len(valid), len(rejected), by_column)


def appliance_ingest(csv_path: Path, work: Path) -> Callable[[], dict[str, Any]]:
    """Set up a fresh home (untimed); the returned call is the timed ingest."""
    from appliance.home import DataHome
    from appliance.ingest import ingest_file, load_schema
    from appliance.store.db import connect

    home = DataHome(work / "home")
    home.layout()
    db = connect(home.db_path)
    schema = load_schema(SCHEMA)

    def ingest() -> dict[str, Any]:
        result = ingest_file(home, db, csv_path, schema)
        by_column: dict[str, int] = {}
        for count in result.quarantine:
            by_column[str(count.column)] = by_column.get(str(count.column), 0) + count.rows
        run = result.run
        return _counts(run.rows_in, run.rows_ok, run.rows_quarantined, by_column)

    return ingest


def _counts(rows_in: int, ok: int, quarantined: int, by_column: dict[str, int]) -> dict[str, Any]:
    return {
        "rows_in": int(rows_in),
        "rows_ok": int(ok),
        "rows_quarantined": int(quarantined),
        "quarantined_by_column": {str(k): int(v) for k, v in sorted(by_column.items())},
    }


# -- one measured run, in a child process -----------------------------------------------


def _rss_kib() -> int:
    """Resident memory now (not the peak), from /proc; KiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def child(kind: str, csv_path: Path, work: Path) -> dict[str, Any]:
    """Runs inside the child: set up, then time the ingest alone."""
    import pyarrow.parquet  # noqa: F401  (both write Parquet; imports are not measured)

    if kind == "appliance":
        call = appliance_ingest(csv_path, work)
    else:
        import pandas  # noqa: F401

        def call() -> dict[str, Any]:
            return pandas_ingest(csv_path, work)

    rss_before = _rss_kib()
    start = time.perf_counter()
    counts = call()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "kind": kind,
        "seconds": seconds,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak,
        "peak_increase_kib": max(0, peak - rss_before),
        **counts,
    }


def spawn(kind: str, csv_path: Path, work: Path) -> dict[str, Any]:
    """One fresh interpreter for one run; its working files are removed afterwards."""
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--csv",
        str(csv_path),
        "--work",
        str(work),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- summarising and reporting (pure) ---------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median / min / max over repeats of one path."""
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    mib = 1024.0
    last = runs[-1]
    return {
        "seconds_median": round(median, 3),
        "seconds_min": round(min(seconds), 3),
        "seconds_max": round(max(seconds), 3),
        "repeats": len(runs),
        "rows_per_s": round(last["rows_in"] / median) if median else None,
        "peak_rss_mib": round(statistics.median(r["peak_rss_kib"] for r in runs) / mib, 1),
        "rss_before_mib": round(statistics.median(r["rss_before_kib"] for r in runs) / mib, 1),
        "peak_increase_mib": round(
            statistics.median(r["peak_increase_kib"] for r in runs) / mib, 1
        ),
        "rows_in": last["rows_in"],
        "rows_ok": last["rows_ok"],
        "rows_quarantined": last["rows_quarantined"],
        "quarantined_by_column": last["quarantined_by_column"],
    }


def ratios(figures: dict[str, Any]) -> dict[str, float]:
    app, peer, small = figures["appliance"], figures["pandas"], figures["appliance_rows_div_10"]
    growth = app["peak_increase_mib"] / max(small["peak_increase_mib"], 0.1)
    return {
        "speedup_vs_pandas": round(peer["seconds_median"] / app["seconds_median"], 2),
        "memory_growth_10x_rows": round(growth, 2),
    }


def agreement(figures: dict[str, Any]) -> str:
    keys = ("rows_in", "rows_ok", "rows_quarantined", "quarantined_by_column")
    app, peer = figures["appliance"], figures["pandas"]
    differ = [k for k in keys if app[k] != peer[k]]
    if not differ:
        return "agree"
    return "differ in " + ", ".join(f"{k} ({app[k]} vs {peer[k]})" for k in differ)


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    libraries = {name: version(name) for name in ("pandas", "pyarrow", "numpy")}
    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), **libraries}


def describe_run(label: str, run: dict[str, Any]) -> str:
    return (
        f"  {label:<22} {run['seconds']:7.2f} s  {run['rows_in'] / run['seconds']:>11,.0f} rows/s"
        f"  peak RSS {run['peak_rss_kib'] / 1024:7.1f} MiB"
        f" (+{run['peak_increase_kib'] / 1024:.1f} MiB during ingest)"
        f"  ok {run['rows_ok']:,} / quarantined {run['rows_quarantined']:,}"
    )


# -- the driver -------------------------------------------------------------------------


def measure(rows: int, repeats: int, tmp: Path) -> dict[str, Any]:
    from appliance.demo.fraud import write_fraud

    files = {}
    for label, n in (("appliance", rows), ("appliance_rows_div_10", max(1, rows // 10))):
        started = time.perf_counter()
        path, written = write_fraud(tmp / label, n, max(1, n // 10), SEED)
        files[label] = path
        print(
            f"wrote {written:,} rows ({path.stat().st_size / 2**20:.1f} MiB) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    files["pandas"] = files["appliance"]
    warm = spawn("appliance", files["appliance_rows_div_10"], tmp / "warm-up")
    print(
        f"warm-up (untimed; warms the page cache): {warm['seconds']:.2f} s",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in files}
    for repeat in range(repeats):
        print(f"repeat {repeat + 1}/{repeats}", flush=True)
        for label in ("appliance", "pandas", "appliance_rows_div_10"):
            kind = "pandas" if label == "pandas" else "appliance"
            run = spawn(kind, files[label], tmp / f"{label}-{repeat}")
            runs[label].append(run)
            print(describe_run(label, run), flush=True)
    return {label: summarise(r) for label, r in runs.items()}


def report(rows: int, figures: dict[str, Any]) -> dict[str, Any]:
    found = ratios(figures)
    met = {
        "speedup_vs_pandas": found["speedup_vs_pandas"] >= 5,
        "memory_growth_10x_rows": found["memory_growth_10x_rows"] < 3,
    }
    agree = agreement(figures)
    figures["counts_agree"] = agree == "agree"
    figures["environment"] = environment()
    print(f"row counts, appliance vs pandas: {agree}")
    for label in ("appliance", "pandas", "appliance_rows_div_10"):
        f = figures[label]
        print(
            f"{label:<22} median {f['seconds_median']:.2f} s (min {f['seconds_min']:.2f},"
            f" max {f['seconds_max']:.2f}), {f['rows_per_s']:,} rows/s,"
            f" peak RSS {f['peak_rss_mib']} MiB (+{f['peak_increase_mib']} MiB)"
        )
    print(
        f"speedup vs pandas: {found['speedup_vs_pandas']}x (goal >= 5)"
        f"; peak-increase growth for 10x rows: {found['memory_growth_10x_rows']}x (goal < 3)"
    )
    return {
        "benchmark": "ingest",
        "rows": rows,
        "figures": figures,
        "ratios": found,
        "goals": GOALS,
        "met": met,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large file")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.csv, args.work)))
        return 0
    if args.rows < 10 or args.repeats < 1:
        parser.error("--rows must be at least 10 and --repeats at least 1")
    sys.path.insert(0, str(ROOT))
    print(
        f"ingest benchmark: {args.rows:,} rows, {args.repeats} repeat(s), "
        f"{os.cpu_count()} CPU(s), fresh subprocess per run",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        figures = measure(args.rows, args.repeats, Path(tmp))
    print(json.dumps(report(args.rows, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
