"""The scoring benchmark runs end to end at a tiny size and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxmltools")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scoring.py"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_bench_scoring_smoke(task: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", "100x4", "--single-calls", "300",
         "--batch-rows", "4000", "--repeats", "1", "--task", task],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "scoring" and result["partial"] is True
    assert result["task"] == task
    figures = result["figures"]["100x4"]
    assert figures["max_abs_diff"] <= 1e-5
    assert set(figures["single"]) == {"ours", "library", "xgboost", "tl2cgen", "onnxruntime"}
    assert all(f["median_us"] > 0 for f in figures["single"].values())
    assert all(b["rows_per_s_2t"] > 0 for b in figures["batch"].values())
    assert figures["reasons"]["median_us"] > 0
    assert "100x4: compiled" in done.stdout


def test_the_report_judges_every_goal() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_scoring import GOALS, report

    def model(ours: float, xgb: float, reasons_us: float) -> dict:
        peers = ("ours", "library", "xgboost", "tl2cgen", "onnxruntime")
        mine = ("ours", "library")
        return {
            "max_abs_diff": 1e-7,
            "single": {p: {"median_us": ours if p in mine else xgb} for p in peers},
            "batch": {p: {"rows_per_s_1t": 2e6 if p in mine else 1e6,
                          "rows_per_s_2t": 2e6 if p in mine else 1e6} for p in peers},
            "reasons": {"median_us": reasons_us},
        }  # fmt: skip

    good = report({"100x4": model(1.0, 100.0, 50), "500x6": model(10.0, 300.0, 500)})
    assert set(good["met"]) >= set(GOALS) and all(good["met"].values())
    bad = report({"100x4": model(2.0, 100.0, 50), "500x6": model(20.0, 300.0, 1500)})
    assert not bad["met"]["single_vs_xgboost_100x4_min"]
    assert not bad["met"]["single_vs_xgboost_500x6_min"]
    assert not bad["met"]["reasons_ms_500x6_max"] and bad["met"]["batch_vs_xgboost_stretch"]


def test_the_serving_report_judges_every_goal() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_serving import GOALS, report

    def mode(p99: float, rps: float, errors: int = 0) -> dict:
        loop = {"p99_ms": p99, "errors": errors}
        return {"open_loop": loop, "closed_loop": {"requests_per_s": rps, "errors": 0}}

    ours = {**mode(4.0, 500.0), "during_retrain": {"p99_ms": 7.0, "errors": 0}}
    good = report({"ours": ours, "xgboost": mode(40.0, 100.0)})
    assert set(good["met"]) == set(GOALS) and all(good["met"].values())
    slow = {**mode(12.0, 150.0, errors=1), "during_retrain": {"p99_ms": 30.0, "errors": 0}}
    bad = report({"ours": slow, "xgboost": mode(40.0, 100.0)})
    assert not any(bad["met"].values())
