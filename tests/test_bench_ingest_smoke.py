"""The ingest benchmark runs end to end at a tiny size and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ingest.py"
RATIOS = {"speedup_vs_pandas", "memory_growth_10x_rows"}


def test_bench_ingest_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "2000", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "ingest"
    assert result["rows"] == 2000
    assert set(result["ratios"]) == RATIOS
    assert set(result["goals"]) == RATIOS
    assert set(result["met"]) == RATIOS
    assert {"appliance", "pandas", "appliance_rows_div_10"} <= set(result["figures"])
    assert result["figures"]["counts_agree"] is True
