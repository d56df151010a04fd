"""Job functions for the scheduler tests, imported by name (``tests.scheduler_targets:NAME``)
in the test process or in a real worker process, like the catalogue's own jobs.

Each leaves a trace in the home's ``logs/`` so that a test can see what ran and when.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.errors import SchemaError
from scheduler.catalogue import JobKind
from scheduler.config import ApplianceConfig, parse_config
from scheduler.job import JobContext, JobResult

TARGETS = "tests.scheduler_targets"


def kinds() -> dict[str, JobKind]:
    """A catalogue of the functions below; ``*_worker`` variants run in a worker process."""
    light = {name: JobKind(name, f"{TARGETS}:{name}", False, name) for name in
             ("tick", "boom", "broken", "slow", "hang_once", "with_problem")}  # fmt: skip
    heavy = {f"{name}_worker": JobKind(f"{name}_worker", f"{TARGETS}:{name}", True, name)
             for name in ("tick", "boom", "slow", "hang_once")}  # fmt: skip
    return light | heavy


def config(jobs: Mapping[str, Mapping[str, Any]], **scheduler: Any) -> ApplianceConfig:
    """A parsed config of ``jobs`` (``[jobs.NAME]`` tables) for the kinds above."""
    data = {"scheduler": {"retry_backoff": "0.05s", **scheduler}, "jobs": dict(jobs)}
    return parse_config(data, "test config", kinds().keys())


def trace(home: Path, name: str) -> list[dict[str, Any]]:
    """Every trace line one of these jobs wrote into ``logs/NAME.jsonl``."""
    path = home / "logs" / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(ctx: JobContext, name: str, **entry: Any) -> None:
    with (ctx.home.root / "logs" / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps({"pid": os.getpid(), "at": time.time(), **entry}) + "\n")


def tick(ctx: JobContext) -> JobResult:
    _write(ctx, "tick", now=ctx.now.isoformat())
    return JobResult(rows=1, artifacts=["logs/tick.jsonl"], summary="ticked")


def boom(ctx: JobContext) -> JobResult:
    _write(ctx, "boom")
    raise RuntimeError("boom: the job failed on purpose")


def broken(ctx: JobContext) -> JobResult:
    raise SchemaError("usecases/x.toml: [target] column is missing")


def slow(ctx: JobContext) -> JobResult:
    seconds = float(ctx.params.get("seconds", 1.0))
    _write(ctx, "slow", event="start")
    time.sleep(seconds)
    _write(ctx, "slow", event="end")
    return JobResult(summary=f"slept {seconds} s")


def hang_once(ctx: JobContext) -> JobResult:
    """The first run writes its pid and hangs (to be killed); later runs succeed."""
    marker = ctx.home.root / "logs" / "hang_once.started"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
    _write(ctx, "hang_once")
    return JobResult(rows=7, summary="finished the second time")


def with_problem(ctx: JobContext) -> JobResult:
    return JobResult(rows=3, summary="done", problems=["inbox/x.csv: unreadable, quarantined"])


def serve_hang(home_root: str) -> None:
    """Run ``hang_once_worker`` in the calling process, as a service would (the kill -9
    test starts this in a process of its own and kills it)."""
    from appliance.home import DataHome
    from scheduler.runner import Runner

    cfg = config({"hang": {"kind": "hang_once_worker", "every": "1h"}})
    Runner(DataHome(Path(home_root)), cfg, catalogue=kinds()).run_now("hang", "schedule")
