"""Imagery benchmark: the shipped int8 TFLite hazard model against its float32 twin and
against ONNX Runtime running the same network (float, and int8 QDQ).

Usage::

    .venv/bin/python benchmarks/bench_imagery.py [--tiles 4096] [--repeats 5]

Draws labelled synthetic Landsat tiles (``appliance.demo.tiles.sample_tiles``, a seed
training never used) as the job holds them after reading: uint16 Collection 2 Level-2
numbers. Times each model at batch 1 and batch 32 with one thread, side by side in one
process, from the same tiles to the same float probabilities:

* ``tflite_int8`` / ``tflite_float``: ai-edge-litert with XNNPACK. The float model's
  input is scaled, clipped reflectance; the int8 model's is quantised in the same pass
  with the model's own scale and zero point; int8 outputs are dequantised;
* ``onnx_float`` / ``onnx_int8`` (QDQ): ONNX Runtime's CPU provider, one intra-op
  thread (and ``onnx_float_gpu`` on CUDA where onnxruntime-gpu finds a GPU).

The two TFLite models are timed again from float32 reflectance tiles
(``*_from_reflectance``): there the int8 model pays for quantising on top.

Each figure is the best of ``repeats`` passes over all tiles (the median is printed
too): tiles/s and ms/tile. Accuracy is measured on the same tiles. A last figure times
the whole ``run_imagery`` job on GeoTIFF files in a temporary home (read, check,
classify, ingest, aggregate). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED = 31337
BATCHES = (1, 32)
KINDS = ("tflite_int8", "tflite_float", "onnx_float", "onnx_int8")
GOALS = {
    "int8_tiles_per_s_one_thread": ">= 2000",
    "int8_vs_float_tflite_batch1": ">= 1",
    "int8_vs_float_tflite_batch32": ">= 1",
    "accuracy_points_float_minus_int8": "<= 1",
}


def runner(kind: str, batch: int, provider: str = "CPUExecutionProvider") -> Any:
    from imagery_edge import OnnxClassifier, TFLiteClassifier, load_model_info

    info = load_model_info()
    if kind.startswith("tflite"):
        return TFLiteClassifier(info.path(kind), info.scaling, kind, threads=1, batch=batch)
    return OnnxClassifier(info.path(kind), info.scaling, kind, [provider], threads=1, batch=batch)


def measure_batch(
    models: dict[str, Any], tiles: np.ndarray, labels: np.ndarray, repeats: int
) -> dict[str, Any]:
    """Time every model at one batch size, passes interleaved (A B C D A B C D ...) so a
    busy machine slows them alike; each figure is the best pass."""
    seconds: dict[str, list[float]] = {label: [] for label in models}
    for model in models.values():
        model.predict(tiles[:64])  # warm-up: allocation, XNNPACK packing, ORT arenas
    for _ in range(repeats):
        for label, model in models.items():
            started = time.perf_counter()
            model.predict(tiles)
            seconds[label].append(time.perf_counter() - started)
    return {
        label: figure(label, model, seconds[label], tiles, labels)
        for label, model in models.items()
    }


def figure(
    label: str, model: Any, seconds: list[float], tiles: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    best, median = min(seconds), statistics.median(seconds)
    accuracy = float((model.predict(tiles).argmax(axis=1) == labels).mean())
    found = {
        "tiles_per_s": round(len(tiles) / best),
        "ms_per_tile": round(1000 * best / len(tiles), 4),
        "tiles_per_s_median": round(len(tiles) / median),
        "accuracy": round(accuracy, 4),
        "runtime": model.runtime,
    }
    print(
        f"  {label:<24} {found['tiles_per_s']:>8,} tiles/s  {found['ms_per_tile']:7.4f} ms/tile"
        f"  (median {found['tiles_per_s_median']:,}/s)  accuracy {accuracy:.4f}",
        flush=True,
    )
    return found


def measure_pipeline(n: int, work: Path) -> dict[str, Any]:
    """The whole job on ``n`` demo GeoTIFFs in a fresh home, one thread."""
    from appliance.demo.tiles import write_tiles
    from appliance.home import DataHome
    from appliance.store.db import connect
    from imagery_edge import TFLiteClassifier, load_model_info, run_imagery

    home = DataHome(work / "home")
    home.layout()
    db = connect(home.db_path)
    write_tiles(home.inside("inbox", "tiles"), seed=SEED, first=n)
    info = load_model_info()
    model = TFLiteClassifier(info.path("tflite_int8"), info.scaling, threads=1)
    started = time.perf_counter()
    result = run_imagery(home, db, model, info, today=date.today())
    seconds = time.perf_counter() - started
    figure = {"tiles": result.classified, "seconds": round(seconds, 3),
              "tiles_per_s": round(result.classified / seconds)}  # fmt: skip
    print(f"  {'job (GeoTIFF to lake)':<24} {figure['tiles_per_s']:>8,} tiles/s  "
          f"{result.classified} tiles in {seconds:.2f} s", flush=True)  # fmt: skip
    return figure


def gpu_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def measure(n: int, repeats: int, pipeline: int) -> dict[str, Any]:
    from appliance.demo.tiles import sample_tiles
    from imagery_edge import load_model_info
    from imagery_edge.preprocess import to_reflectance

    info = load_model_info()
    dn, labels = sample_tiles(n, SEED)
    reflectance = np.stack([to_reflectance(t, info) for t in dn])
    figures: dict[str, Any] = {}
    for batch in BATCHES:
        print(f"batch {batch}, one thread, from uint16 Landsat tiles:", flush=True)
        models = {f"{kind}_batch{batch}": runner(kind, batch) for kind in KINDS}
        if gpu_available():
            gpu = runner("onnx_float", batch, "CUDAExecutionProvider")
            models[f"onnx_float_gpu_batch{batch}"] = gpu
        figures.update(measure_batch(models, dn, labels, repeats))
    for batch in BATCHES:
        print(f"batch {batch}, one thread, from float32 reflectance:", flush=True)
        models = {
            f"{kind}_batch{batch}_from_reflectance": runner(kind, batch)
            for kind in ("tflite_int8", "tflite_float")
        }
        figures.update(measure_batch(models, reflectance, labels, repeats))
    if pipeline:
        with tempfile.TemporaryDirectory(prefix="bench-imagery-") as tmp:
            figures["job"] = measure_pipeline(pipeline, Path(tmp))
    figures["model"] = {
        "tflite_int8_bytes": info.path("tflite_int8").stat().st_size,
        "tflite_float_bytes": info.path("tflite_float").stat().st_size,
        "held_out_accuracy": {k: v["accuracy"] for k, v in info.accuracy.items()},
    }
    return figures


def ratios(figures: dict[str, Any]) -> dict[str, float]:
    def speed(label: str) -> float:
        return float(figures[label]["tiles_per_s"])

    found = {
        "int8_tiles_per_s_one_thread": speed("tflite_int8_batch32"),
        "int8_vs_float_tflite_batch1": speed("tflite_int8_batch1") / speed("tflite_float_batch1"),
        "int8_vs_float_tflite_batch32": speed("tflite_int8_batch32")
        / speed("tflite_float_batch32"),
        "accuracy_points_float_minus_int8": 100
        * (
            figures["tflite_float_batch32"]["accuracy"] - figures["tflite_int8_batch32"]["accuracy"]
        ),
    }
    for batch in BATCHES:
        for peer in ("onnx_float", "onnx_int8"):
            found[f"int8_vs_{peer}_batch{batch}"] = speed(f"tflite_int8_batch{batch}") / speed(
                f"{peer}_batch{batch}"
            )
    return {k: round(v, 3) for k, v in found.items()}


def environment() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
        cpu = next(
            line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line
        )
        vnni = "avx512_vnni" in text or "avx_vnni" in text
    except (OSError, StopIteration):
        vnni = False
    libraries = {name: version(name) for name in ("ai-edge-litert", "onnxruntime", "numpy")}
    return {
        "python": sys.version.split()[0], "cpus": os.cpu_count(), "cpu": cpu,
        "int8_dot_product": vnni, "device": "gpu+cpu" if gpu_available() else "cpu", **libraries,
    }  # fmt: skip


def report(n: int, figures: dict[str, Any]) -> dict[str, Any]:
    found = ratios(figures)
    met = {
        "int8_tiles_per_s_one_thread": found["int8_tiles_per_s_one_thread"] >= 2000,
        "int8_vs_float_tflite_batch1": found["int8_vs_float_tflite_batch1"] >= 1,
        "int8_vs_float_tflite_batch32": found["int8_vs_float_tflite_batch32"] >= 1,
        "accuracy_points_float_minus_int8": found["accuracy_points_float_minus_int8"] <= 1,
    }
    figures["environment"] = environment()
    for key, value in found.items():
        goal = GOALS.get(key)
        verdict = f"(goal {goal}: {'met' if met[key] else 'NOT met'})" if goal else "(peer)"
        print(f"{key:<36} {value:>10} {verdict}")
    return {
        "benchmark": "imagery",
        "tiles": n,
        "figures": figures,
        "ratios": found,
        "goals": GOALS,
        "met": met,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=4096, help="tiles per timed pass")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per model")
    parser.add_argument(
        "--pipeline-tiles", type=int, default=512, help="GeoTIFFs for the job figure (0: skip)"
    )
    args = parser.parse_args(argv)
    if args.tiles < 64 or args.repeats < 1 or args.pipeline_tiles < 0:
        parser.error("--tiles must be at least 64, --repeats at least 1")
    sys.path.insert(0, str(ROOT))
    print(
        f"imagery benchmark: {args.tiles:,} tiles, best of {args.repeats}, "
        f"{os.cpu_count()} CPU(s), one thread per model",
        flush=True,
    )
    figures = measure(args.tiles, args.repeats, args.pipeline_tiles)
    print(json.dumps(report(args.tiles, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
