"""The TreeSHAP benchmark runs end to end on small models and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_treeshap.py"


@pytest.mark.slow
def test_bench_treeshap_smoke() -> None:
    args = ["--rows", "600", "--reason-rows", "40", "--xgb-rows", "4", "--batch-rows", "80",
            "--repeats", "1", "--models", "8x3", "20x4"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["name"] == "treeshap"
    assert result["goals"] == {"reasons_ms_500x6": 1.0}
    assert result["met"] == {"reasons_ms_500x6": None}  # no 500x6 model in the smoke run
    assert result["agree"] is True
    assert set(result["ratios"]) == {
        f"{kind}_xgboost_over_ours_{name}" for kind in ("row", "batch") for name in ("8x3", "20x4")
    }
    for name in ("8x3", "20x4"):
        figures = result["figures"][name]
        assert figures["ours"]["rows"] == 40 and figures["xgboost"]["rows"] == 4
        assert figures["ours"]["median_ms"] > 0 and figures["xgboost"]["batch_s"] > 0
        assert figures["max_abs_diff_vs_xgboost"] <= 1e-4
        assert figures["max_abs_sum_minus_margin"] <= 1e-4


def test_bench_treeshap_refuses_a_bad_model_shape() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", "500-6"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--models takes TREESxDEPTH" in done.stderr
