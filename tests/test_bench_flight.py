"""The Flight benchmark runs end to end on a few rows and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_flight.py"


@pytest.mark.slow
def test_bench_flight_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "5000", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "flight" and result["rows"] == 5000
    figures = result["figures"]
    assert set(figures["gb_per_s"]) == {"appliance", "bare_flight"}
    assert figures["bytes"] > 5000 * 100 and all(v > 0 for v in figures["rows_per_s"].values())
    assert result["goals"] == {"share_of_bare_flight": 0.7}
    share = result["ratios"]["share_of_bare_flight"]
    assert result["met"]["share_of_bare_flight"] == (share >= 0.7)


def test_bench_flight_refuses_bad_arguments() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--outcome-share", "2"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and "--outcome-share in [0, 1]" in done.stderr
