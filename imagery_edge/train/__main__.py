"""``python -m imagery_edge.train [--seed N] [--out DIR]``: retrain the hazard model."""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from appliance.demo import tiles as synthetic
from imagery_edge.litert import TFLiteClassifier
from imagery_edge.model_info import ARTIFACTS, InputScaling, shipped_model_dir
from imagery_edge.onnx_backend import OnnxClassifier
from imagery_edge.preprocess import dn_to_reflectance
from imagery_edge.train import export, network
from imagery_edge.train.evaluate import score

NAME, VERSION = "hazard-cnn", "1"
FILES = {
    "tflite_int8": "hazard_int8.tflite",
    "tflite_float": "hazard_float.tflite",
    "onnx_float": "hazard.onnx",
    "onnx_int8": "hazard_int8_qdq.onnx",
}
CLIP = (0.0, 1.0)


def dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    dn, labels = synthetic.sample_tiles(n, seed)
    return dn_to_reflectance(dn, synthetic.SR_SCALE, synthetic.SR_OFFSET, *CLIP), labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--train", type=int, default=8000, help="training tiles")
    parser.add_argument("--validation", type=int, default=2000)
    parser.add_argument("--test", type=int, default=4000, help="held-out tiles")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=shipped_model_dir())
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds = {
        "train": args.seed * 10 + 1,
        "validation": args.seed * 10 + 2,
        "test": args.seed * 10 + 3,
    }
    train = dataset(args.train, seeds["train"])
    validation = dataset(args.validation, seeds["validation"])
    test = dataset(args.test, seeds["test"])
    took = time.perf_counter() - started
    print(f"data: {args.train}/{args.validation}/{args.test} tiles in {took:.0f} s")
    model = network.build(
        synthetic.TILE_SIZE, len(synthetic.BANDS), len(synthetic.CLASSES), args.seed
    )
    model.summary()
    curve = network.fit(model, train, validation, args.epochs, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    representative = train[0][
        np.random.default_rng(args.seed).choice(len(train[0]), 400, replace=False)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        export.write_tflite(model, staged / FILES["tflite_float"], None)
        export.write_tflite(model, staged / FILES["tflite_int8"], representative)
        export.write_onnx(
            model, staged / FILES["onnx_float"], synthetic.TILE_SIZE, len(synthetic.BANDS)
        )
        export.write_onnx_int8(
            staged / FILES["onnx_float"], staged / FILES["onnx_int8"], representative
        )
        keras_accuracy = score(test[1], model.predict(test[0], verbose=0), synthetic.CLASSES)
        accuracy = {"keras_float": keras_accuracy, **_score_files(staged, test)}
        meta = _metadata(args, seeds, curve, accuracy, staged, model.count_params())
        for name in FILES.values():
            (args.out / name).write_bytes((staged / name).read_bytes())
    (args.out / "hazard.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _print_report(meta, time.perf_counter() - started)
    return 0


def _score_files(folder: Path, test: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    found = {}
    for kind in ARTIFACTS:
        path = folder / FILES[kind]
        runner: Any
        scaling = InputScaling(synthetic.SR_SCALE, synthetic.SR_OFFSET, *CLIP)
        if kind.startswith("tflite"):
            runner = TFLiteClassifier(path, scaling, kind, threads=2, batch=64)
        else:
            runner = OnnxClassifier(path, scaling, kind, threads=2, batch=64)
        found[kind] = score(test[1], runner.predict(test[0]), synthetic.CLASSES)
    return found


def _metadata(
    args: argparse.Namespace,
    seeds: dict[str, int],
    curve: list[float],
    accuracy: dict[str, Any],
    folder: Path,
    parameters: int,
) -> dict[str, Any]:
    files = {kind: FILES[kind] for kind in ARTIFACTS}
    return {
        "name": NAME,
        "version": VERSION,
        "classes": list(synthetic.CLASSES),
        "input": {
            "bands": list(synthetic.BANDS),
            "tile_size": synthetic.TILE_SIZE,
            "layout": "NHWC float32 surface reflectance (int8 models: quantised with the "
            "scale and zero point stored in the model)",
            "dn_scale": synthetic.SR_SCALE,
            "dn_offset": synthetic.SR_OFFSET,
            "clip": list(CLIP),
        },
        "files": files,
        "sha256": {
            k: hashlib.sha256((folder / f).read_bytes()).hexdigest() for k, f in files.items()
        },
        "bytes": {k: (folder / f).stat().st_size for k, f in files.items()},
        "parameters": parameters,
        "architecture": [f"conv {k}x{k}/{s} {f} {p} relu" for f, k, s, p in network.LAYERS]
        + ["global average pool", f"dense {len(synthetic.CLASSES)} softmax"],
        "training": {
            "data": (
                "synthetic Landsat 8/9 OLI surface-reflectance tiles from appliance.demo.tiles "
                "(balanced classes, random demo regions and months; spectra of green and dry "
                "vegetation, clear and turbid water and cloud; smooth random cover fields, "
                "sensor noise); held-out tiles come from a separate seed"
            ),
            "tiles": {"train": args.train, "validation": args.validation, "test": args.test},
            "seeds": {"model": args.seed, **seeds},
            "epochs": args.epochs,
            "validation_accuracy_per_epoch": curve,
            "int8_calibration": "400 training tiles (representative data set)",
            "command": f"python -m imagery_edge.train --seed {args.seed}",
            "tensorflow": version("tensorflow-cpu")
            if _installed("tensorflow-cpu")
            else version("tensorflow"),
            "python": platform.python_version(),
        },
        "accuracy": accuracy,
    }


def _installed(name: str) -> bool:
    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


def _print_report(meta: dict[str, Any], seconds: float) -> None:
    print(f"trained and exported in {seconds:.0f} s")
    for kind, found in meta["accuracy"].items():
        size = meta["bytes"].get(kind, 0)
        print(f"  {kind:<13} held-out accuracy {found['accuracy']:.4f}  {size:>7,} bytes")
        for label, row in zip(meta["classes"], found["confusion"], strict=True):
            print(f"      {label:<8} {row}")


if __name__ == "__main__":
    sys.exit(main())
