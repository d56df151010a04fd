"""benchmarks/soak.py for a few seconds: it starts `appliance up` on a copy of a trained
home, loads it, lets the ingest job run on files it drops, and reports one JSON line
whose figures add up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from appliance.home import DataHome
from tests.serving_fixtures import REPO, trained_home  # noqa: F401


@pytest.mark.slow
def test_a_short_soak_reports_every_request_logged_once(trained_home: DataHome) -> None:  # noqa: F811
    command = [sys.executable, "benchmarks/soak.py", "--home", str(trained_home.root),
               "--seconds", "6", "--rate", "40", "--connections", "4", "--window", "2",
               "--warmup", "2", "--job-every", "2", "--housekeeping-every", "4"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a goal missed, still reported
    report = json.loads(done.stdout.strip().splitlines()[-1])
    figures = report["figures"]
    assert report["benchmark"] == "soak" and set(report["met"]) == set(report["goals"])
    assert figures["requests"] == 240 and figures["errors"] == 0
    assert [w["requests"] for w in figures["windows"]] == [80, 80, 80]
    assert figures["predictions_logged"] == figures["ok"] == 240  # one row per answer
    assert figures["predictions_match"] is True and report["met"]["predictions_match"]
    assert figures["job_runs"].get("ingest ok", 0) >= 1 and figures["files_dropped"] >= 1
    assert not any("failed" in k for k in figures["job_runs"])
    assert figures["integrity"] == "ok" and figures["audit_ok"] and figures["up_exit"] == 0
    rss = figures["rss"]
    assert 50 < rss["start_mb"] <= rss["peak_mb"] and rss["end_mb"] <= rss["peak_mb"]
    assert "p99" in done.stderr  # the per-window lines a person reads
