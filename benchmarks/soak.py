"""Soak test: the whole appliance (`appliance up`: REST API and scheduler, one process)
under a steady scoring load for a bounded time while its scheduled jobs run.

Usage::

    .venv/bin/python benchmarks/soak.py              # 10 minutes, 200 requests/s, 16 connections
    .venv/bin/python benchmarks/soak.py --seconds 60 --rate 100 --window 10     # a short run
    .venv/bin/python benchmarks/soak.py --home DIR   # a copy of a trained home

Builds a demo home with credit_default trained and in production (or copies ``--home``),
writes an ``appliance.toml`` whose ingest job runs every ``--job-every`` seconds and whose
housekeeping job (VACUUM, ANALYZE) runs every ``--housekeeping-every`` seconds, starts
`appliance up`, and drives ``POST /v1/models/credit_default/score`` open loop: request i
is due at start + i / rate and its latency counts from then, so a stalled server cannot
hide its queue. Before each ingest a new file of credit applications lands in the inbox,
so the job really ingests and the service really reloads its lake data under load.

Reported per window (a minute by default): requests, errors, p50 and p99 latency. Also:
the service's resident memory at the start, after ``--warmup`` seconds and at the end
(goal: under 10 % growth after warm-up), the job runs, and whether the prediction log
holds exactly one served row per successful request (counted after a graceful stop,
which flushes the log). The load client is ``benchmarks/bench_serving.Connection``.

The warm-up lasts until every scheduled job has run once (``--housekeeping-every`` + 30 s,
at least 60 s; half the run when that is longer). The first run of each job and the
first minutes of load size glibc's per-thread malloc arenas, which keep freed memory for
reuse: measured, the Python heap (tracemalloc) and Arrow's pool stay flat while resident
memory climbs through the first ingest and the first VACUUM and then levels off.
The last line printed is one JSON object. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import PATH, Connection  # noqa: E402 - after the path insert

GOALS = {"errors_max": 0, "rss_growth_after_warmup_pct_max": 10.0, "predictions_match": True}


# -- the home ------------------------------------------------------------------------------


def prepare_home(root: Path, source: Path | None, rows: int) -> Any:
    """A home with credit_default in production: a copy of ``source``, or a new demo."""
    from appliance.home import DataHome

    if source is not None:
        shutil.copytree(source, root / "home", ignore=shutil.ignore_patterns("up.lock"))
        return DataHome(root / "home")
    from tests.lake_fixtures import build_demo_lake, train_credit

    say(f"building a demo home with {rows:,} customers and training credit_default")
    home = build_demo_lake(root / "home", rows=rows)
    train_credit(home)
    return home


def write_config(home: Any, api_port: int, flight_port: int, job_every: float,
                 housekeeping_every: float) -> None:  # fmt: skip
    home.config_path.write_text(f"""# written by benchmarks/soak.py
[service]
host = "127.0.0.1"
api_port = {api_port}
flight_port = {flight_port}
log_format = "json"
shutdown_timeout = "30s"

[scheduler]
retry_attempts = 1

[jobs.ingest]
every = "{job_every:g}s"

[jobs.housekeeping]
every = "{housekeeping_every:g}s"
params = {{ quarantine_days = 0, job_log_days = 0, backup_dir = "", backup_keep = 1 }}
""")


def bodies_and_key(home: Any) -> tuple[list[bytes], str, str, list[str]]:
    """Request bodies (real applications), a fresh scorer key and its id, customer ids."""
    from appliance.access import create_key
    from appliance.lake import read_dataset
    from appliance.store.db import connect

    db = connect(home.db_path)
    try:
        key, secret = create_key(db, "scorer", "soak", actor="soak")
        table = read_dataset(home, db, "credit_applications").drop_columns(["defaulted"])
    finally:
        db.close()
    records = table.slice(0, 2000).to_pylist()
    bodies = []
    for record in records:
        record["application_date"] = record["application_date"].isoformat()
        bodies.append(json.dumps(record).encode())
    return bodies, secret, key.id, sorted({r["customer_id"] for r in records})


@dataclass
class Dropper:
    """Puts a new credit-applications file in the inbox before each ingest run."""

    inbox: Path
    customers: list[str]
    every: float
    count: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stop.wait(self.every * 0.5 if self.count == 0 else self.every):
            self.count += 1
            lines = ["application_id,customer_id,application_date,requested_amount,"
                     "term_months,defaulted"]  # fmt: skip
            for i in range(200):
                day = f"2025-0{rng.randint(1, 6)}-{rng.randint(1, 28):02d}"
                lines.append(f"AP8{self.count:03d}{i:03d},{rng.choice(self.customers)},{day},"
                             f"{rng.randint(500, 20000)},{rng.choice([12, 24, 36])},"
                             f"{rng.randint(0, 1)}")  # fmt: skip
            tmp = self.inbox / f".credit_applications_soak_{self.count}.part"
            tmp.write_text("\n".join(lines) + "\n")
            tmp.rename(self.inbox / f"credit_applications_soak_{self.count}.csv")


# -- the service ---------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(home: Any, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "appliance", "--home", str(home.root), "up"]
    with log_path.open("ab") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"appliance up exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("appliance up did not start in 180 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the load ------------------------------------------------------------------------------


@dataclass
class Load:
    rate: float
    seconds: float
    connections: int
    window: float
    warmup: float
    due: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)


async def drive(port: int, key: str, bodies: list[bytes], load: Load, pid: int) -> None:
    """Send request i at start + i / rate on whichever connection is free."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(load.connections):
        idle.put_nowait(await Connection.open(port))
    start = time.perf_counter() + 0.2
    total = int(load.rate * load.seconds)

    async def one(i: int, due: float) -> None:
        conn = await idle.get()
        try:
            status = await conn.post(PATH, bodies[i % len(bodies)], key)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0  # counted as an error; the next request gets a new connection
            conn.close()
            with contextlib.suppress(OSError):
                conn = await Connection.open(port)
        idle.put_nowait(conn)
        load.due.append(due - start)
        load.latency.append(time.perf_counter() - due)
        load.status.append(status)

    async def sample_memory() -> None:
        while True:
            load.rss.append((time.perf_counter() - start, rss_mb(pid)))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    tasks = []
    for i in range(total):
        due = start + i / load.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, due)))
        if i % 1000 == 0:
            tasks = [t for t in tasks if not t.done()]
    await asyncio.gather(*tasks)
    sampler.cancel()
    load.rss.append((time.perf_counter() - start, rss_mb(pid)))
    while not idle.empty():
        idle.get_nowait().close()


def windows(load: Load) -> list[dict[str, Any]]:
    due = np.array(load.due)
    ms = np.array(load.latency) * 1000
    ok = np.array(load.status) == 200
    out = []
    for k in range(int(np.ceil(load.seconds / load.window))):
        inside = (due >= k * load.window) & (due < (k + 1) * load.window)
        if not inside.any():
            continue
        out.append({"window": k, "from_s": round(k * load.window, 1),
                    "requests": int(inside.sum()), "errors": int((~ok[inside]).sum()),
                    "p50_ms": round(float(np.percentile(ms[inside], 50)), 3),
                    "p99_ms": round(float(np.percentile(ms[inside], 99)), 3)})  # fmt: skip
    return out


def memory(load: Load) -> dict[str, float]:
    samples = [(t, v) for t, v in load.rss if v == v]  # drop NaN
    start = samples[0][1]
    after = next((v for t, v in samples if t >= load.warmup), samples[-1][1])
    end = samples[-1][1]
    return {"start_mb": round(start, 1), "after_warmup_mb": round(after, 1),
            "end_mb": round(end, 1), "peak_mb": round(max(v for _, v in samples), 1),
            "growth_after_warmup_pct": round((end - after) / after * 100, 2)}  # fmt: skip


# -- after ---------------------------------------------------------------------------------


def store_figures(home: Any, key_id: str) -> dict[str, Any]:
    from appliance import audit
    from appliance.store.db import connect

    db = connect(home.db_path)
    try:
        served, distinct = db.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM predictions "
            "WHERE key_id = ? AND served = 1", [key_id]).fetchone()  # fmt: skip
        runs = db.execute("SELECT job, status, count(*) FROM job_runs GROUP BY job, status "
                          "ORDER BY job, status").fetchall()  # fmt: skip
        failed = db.execute("SELECT job, error FROM job_runs WHERE status != 'ok' "
                            "ORDER BY id LIMIT 5").fetchall()  # fmt: skip
        return {
            "predictions_logged": served, "predictions_distinct": distinct,
            "job_runs": {f"{job} {status}": n for job, status, n in runs},
            "job_errors": [f"{job}: {(error or '')[:300]}" for job, error in failed],
            "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
            "audit_ok": audit.verify(db).ok,
        }  # fmt: skip
    finally:
        db.close()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to load")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per report line")
    parser.add_argument("--warmup", type=float, default=None,
                        help="memory growth is measured from this many seconds in (default:"
                             " once every job has run, --housekeeping-every + 30)")
    parser.add_argument("--job-every", type=float, default=60.0, help="ingest job interval")
    parser.add_argument("--housekeeping-every", type=float, default=300.0,
                        help="housekeeping job interval (VACUUM, ANALYZE)")
    parser.add_argument("--home", type=Path, help="a trained home to copy (default: build one)")
    parser.add_argument("--rows", type=int, default=2500, help="demo customers (no --home)")
    args = parser.parse_args(argv)
    if min(args.seconds, args.rate, args.window, args.job_every, args.housekeeping_every) <= 0:
        parser.error("--seconds, --rate, --window and the job intervals must be > 0")
    if args.warmup is None:
        args.warmup = max(60.0, args.housekeeping_every + 30.0)
        if args.warmup >= args.seconds:
            args.warmup = args.seconds / 2
    if args.connections < 1 or args.warmup < 0 or args.warmup >= args.seconds:
        parser.error("need --connections >= 1 and 0 <= --warmup < --seconds")
    if args.home is not None and not (args.home / "appliance.db").is_file():
        parser.error(f"--home {args.home} is not a data home (no appliance.db)")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result = soak(Path(tmp), args)
    print(json.dumps(result))
    return 0 if all(result["met"].values()) else 1


def soak(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = prepare_home(tmp, args.home, args.rows)
    port = free_port()
    write_config(home, port, free_port(), args.job_every, args.housekeeping_every)
    bodies, key, key_id, customers = bodies_and_key(home)
    log_path = tmp / "up.log"
    server = start_up(home, port, log_path)
    dropper = Dropper(home.dir("inbox"), customers, args.job_every)
    feeder = threading.Thread(target=dropper.run, daemon=True)
    feeder.start()
    load = Load(args.rate, args.seconds, args.connections, args.window, args.warmup)
    say(f"soak: {args.rate:g} requests/s on {args.connections} connections for "
        f"{args.seconds:g} s; ingest every {args.job_every:g} s")  # fmt: skip
    try:
        asyncio.run(drive(port, key, bodies, load, server.pid))
    finally:
        dropper.stop.set()
        server.send_signal(signal.SIGTERM)  # graceful: drains and flushes the log
        code = server.wait(timeout=120)
    per_window = windows(load)
    for w in per_window:
        say(f"  {w['from_s']:>7.0f} s  {w['requests']:>7} requests  {w['errors']:>4} errors  "
            f"p50 {w['p50_ms']:7.2f} ms  p99 {w['p99_ms']:8.2f} ms")  # fmt: skip
    ms = np.array(load.latency) * 1000
    ok = int((np.array(load.status) == 200).sum())
    figures = {
        "seconds": args.seconds, "rate": args.rate, "connections": args.connections,
        "requests": len(load.status), "ok": ok, "errors": len(load.status) - ok,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3), "windows": per_window, "rss": memory(load),
        "files_dropped": dropper.count, "up_exit": code, **store_figures(home, key_id),
    }  # fmt: skip
    errors = [line for line in log_path.read_text(errors="replace").splitlines()
              if '"level": "ERROR"' in line or '"level":"ERROR"' in line]  # fmt: skip
    figures["service_errors_logged"] = len(errors)
    figures["service_errors"] = [line[:400] for line in errors[:5]]
    figures["predictions_match"] = (figures["predictions_logged"] == ok
                                    == figures["predictions_distinct"])  # fmt: skip
    say(f"soak: {figures['requests']} requests, {figures['errors']} errors, p99 "
        f"{figures['p99_ms']} ms; RSS {figures['rss']['after_warmup_mb']} -> "
        f"{figures['rss']['end_mb']} MiB; {figures['predictions_logged']} predictions logged "
        f"for {ok} answers; jobs {figures['job_runs']}")  # fmt: skip
    met = {
        "errors_max": figures["errors"] <= GOALS["errors_max"],
        "rss_growth_after_warmup_pct_max":
            figures["rss"]["growth_after_warmup_pct"] < GOALS["rss_growth_after_warmup_pct_max"],
        "predictions_match": figures["predictions_match"],
    }  # fmt: skip
    return {"benchmark": "soak", "figures": figures, "goals": GOALS, "met": met}


if __name__ == "__main__":
    sys.exit(main())
