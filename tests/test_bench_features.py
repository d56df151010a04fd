"""The feature benchmark runs end to end at a tiny size and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_features.py"


def test_bench_features_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--customers", "300", "--repeats", "1", "--no-cold-compile"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "features"
    assert result["rows"] == 300 * 24
    assert set(result["ratios"]) == {"pandas_over_appliance"}
    assert result["goals"] == {"pandas_over_appliance_min": 10}
    assert set(result["met"]) == {"pandas_over_appliance_min"}
    figures = result["figures"]
    assert {"appliance", "pandas"} <= set(figures)
    assert figures["features_agree"] is True, figures["features_differ"]
    assert figures["appliance"]["warm_up_s"] >= 0
