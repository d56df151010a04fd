"""The imagery benchmark runs end to end at a tiny size and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_imagery.py"


def test_bench_imagery_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiles", "64", "--repeats", "1", "--pipeline-tiles", "8"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "imagery" and result["tiles"] == 64
    assert set(result["goals"]) == set(result["met"]) <= set(result["ratios"])
    for kind in ("tflite_int8", "tflite_float", "onnx_float", "onnx_int8"):
        for batch in (1, 32):
            figure = result["figures"][f"{kind}_batch{batch}"]
            assert figure["tiles_per_s"] > 0 and figure["ms_per_tile"] > 0
    assert result["figures"]["job"]["tiles"] == 8
    assert result["met"]["accuracy_points_float_minus_int8"] is True
