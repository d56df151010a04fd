"""The Hyper benchmark runs end to end on a few rows and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hyper.py"


@pytest.mark.slow
def test_bench_hyper_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "3000", "--repeats", "1",
         "--inserter-rows", "500"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "hyper" and result["rows"] == 3000
    assert result["figures"]["rows_written"] == {"appliance": 3000, "pantab": 3000,
                                                 "inserter": 500}  # fmt: skip
    assert set(result["figures"]["rows_per_s"]) == {"appliance", "pantab_pandas",
                                                    "pantab_arrow", "inserter"}  # fmt: skip
    assert result["goals"] == {"speedup_vs_pantab": 1.3}
    assert result["ratios"]["speedup_vs_pantab"] > 0
    assert all(v > 0 for v in result["figures"]["cpu_seconds"].values())
    assert result["met"]["speedup_vs_pantab"] == (result["ratios"]["speedup_vs_pantab"] >= 1.3)


def test_bench_hyper_generates_the_published_schema() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_hyper import scores_table

    from connectors.catalogue import table_named

    data = scores_table(1000)
    assert data.schema == table_named("scores").arrow_schema()
    assert data.column("outcome").null_count == 750 and data.num_rows == 1000


def test_bench_hyper_refuses_bad_arguments() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--rows", "0"], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and "must be at least 1" in done.stderr
