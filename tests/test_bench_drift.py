"""The drift benchmark runs end to end at a tiny size and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_drift.py"


def test_bench_drift_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "3000", "--features", "3", "--repeats", "1"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "drift" and result["rows"] == 3000
    assert set(result["ratios"]) == {"numpy_scipy_over_appliance", "numpy_over_appliance",
                                     "appliance_seconds"}  # fmt: skip
    figures = result["figures"]
    assert figures["statistics_agree"] is True
    assert figures["numpy_scipy_max_abs_diff_ks"] <= 1e-9
    # scipy's default is an exact permutation p-value at this size, ours Smirnov's: close
    assert figures["numpy_scipy_max_abs_diff_ks_p"] <= 0.02
    assert set(result["met"]) == set(result["goals"]) | {"statistics_agree"}
