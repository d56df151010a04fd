"""The shipped hazard model: metadata, hashes, and int8 against float within tolerance."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appliance.demo.tiles import sample_tiles
from imagery_edge import (
    ModelUnavailable,
    OnnxClassifier,
    TFLiteClassifier,
    load_model_info,
)
from imagery_edge.device import PARITY_TOLERANCE
from imagery_edge.litert import dequantize, quantize
from imagery_edge.model_info import ARTIFACTS
from imagery_edge.preprocess import to_reflectance
from imagery_edge.train.evaluate import confusion, score
from imagery_edge.train.export import _pads


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    info = load_model_info()
    dn, labels = sample_tiles(400, seed=424242)  # a seed training never used
    return np.stack([to_reflectance(t, info) for t in dn]), labels


def classifier(kind: str, batch: int = 32) -> TFLiteClassifier | OnnxClassifier:
    info = load_model_info()
    if kind.startswith("tflite"):
        return TFLiteClassifier(info.path(kind), info.scaling, kind, threads=1, batch=batch)
    return OnnxClassifier(info.path(kind), info.scaling, kind, threads=1, batch=batch)


def test_metadata_describes_a_small_int8_model() -> None:
    info = load_model_info()
    assert info.classes == ("normal", "flood", "drought", "cloud")
    assert info.bands == ("blue", "green", "red", "nir", "swir1", "swir2")
    assert info.tile_size == 64 and info.dn_scale == 2.75e-5 and info.dn_offset == -0.2
    assert info.path("tflite_int8").stat().st_size < 64_000
    float_acc = info.accuracy["tflite_float"]["accuracy"]
    int8_acc = info.accuracy["tflite_int8"]["accuracy"]
    assert float_acc >= 0.97 and abs(int8_acc - float_acc) <= 0.01  # within 1 point
    assert (
        np.array(info.accuracy["tflite_int8"]["confusion"]).sum() == info.training["tiles"]["test"]
    )
    assert "python -m imagery_edge.train --seed" in info.training["command"]
    assert info.model_version("tflite_int8").startswith("hazard-cnn-1+tflite_int8.")


def test_a_model_file_that_does_not_match_its_hash_is_refused(tmp_path: Path) -> None:
    info = load_model_info()
    for name in [*info.files.values(), "hazard.json"]:
        shutil.copy(info.folder / name, tmp_path / name)
    copy = load_model_info(tmp_path)
    assert copy.path("tflite_int8").name == "hazard_int8.tflite"
    with (tmp_path / "hazard_int8.tflite").open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(ModelUnavailable, match="does not match the SHA-256"):
        copy.path("tflite_int8")
    (tmp_path / "hazard.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="not valid hazard model metadata"):
        load_model_info(tmp_path)


def test_int8_agrees_with_float_within_tolerance(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    tiles, labels = held_out
    found = {kind: classifier(kind).predict(tiles) for kind in ARTIFACTS}
    reference = found["tflite_float"]
    assert np.allclose(reference.sum(axis=1), 1, atol=1e-4)
    for kind, probabilities in found.items():
        assert probabilities.shape == (len(tiles), 4) and probabilities.dtype == np.float32
        assert np.abs(probabilities - reference).max() <= PARITY_TOLERANCE, kind
        agreement = (probabilities.argmax(1) == reference.argmax(1)).mean()
        assert agreement >= 0.99, kind
        assert (probabilities.argmax(1) == labels).mean() >= 0.97, kind
    assert np.abs(found["onnx_float"] - reference).max() < 1e-4  # the same network


def test_landsat_numbers_and_reflectance_give_the_same_answer() -> None:
    info = load_model_info()
    dn, _ = sample_tiles(40, seed=77)
    reflectance = np.stack([to_reflectance(t, info) for t in dn])
    for kind in ARTIFACTS:
        model = classifier(kind)
        from_dn, from_float = model.predict(dn), model.predict(reflectance)
        assert np.abs(from_dn - from_float).max() <= 2 / 256, kind  # one int8 step at most
        assert (from_dn.argmax(1) == from_float.argmax(1)).all(), kind
    with pytest.raises(ValueError, match="uint16 Landsat numbers or float reflectance"):
        classifier("tflite_int8").predict(dn.astype(np.int32))


def test_batches_do_not_change_results(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    tiles = held_out[0][:37]
    one, many = classifier("tflite_int8", 1), classifier("tflite_int8", 16)
    assert np.array_equal(one.predict(tiles), many.predict(tiles))
    assert many.predict(tiles[:0]).shape == (0, 4)
    with pytest.raises(ValueError, match="expected tiles of shape"):
        many.predict(tiles[:, :32])


def test_quantisation_matches_the_affine_formula() -> None:
    values = np.random.default_rng(0).uniform(-0.5, 1.5, 10_000).astype(np.float32)
    for scale, zero_point in ((1 / 255, -128), (0.0123, 7), (0.5, 0)):
        expected = np.clip(np.floor(values / scale + 0.5) + zero_point, -128, 127)
        got = quantize(values, scale, zero_point, np.dtype(np.int8))
        assert got.dtype == np.int8
        assert np.abs(got.astype(int) - expected).max() <= 1  # float rounding at .5 only
        assert (got == expected).mean() > 0.999
    assert np.array_equal(dequantize(np.array([-128, 0, 127], np.int8), 0.5, -128), [0, 64, 127.5])


def test_training_helpers_without_tensorflow() -> None:
    assert _pads(16, 3, 2, "same") == ([0, 0, 1, 1], 8)  # TensorFlow pads after
    assert _pads(64, 4, 4, "valid") == ([0, 0, 0, 0], 16)
    truth, predicted = np.array([0, 1, 1, 3]), np.array([0, 1, 2, 3])
    assert confusion(truth, predicted, 4)[1].tolist() == [0, 1, 1, 0]
    assert score(truth, np.eye(4)[predicted], ("a", "b", "c", "d"))["accuracy"] == 0.75


def test_the_runtime_never_imports_tensorflow() -> None:
    code = (
        "import sys, numpy as np\n"
        "from imagery_edge import open_classifier\n"
        "open_classifier('auto').classifier.predict(np.zeros((2, 64, 64, 6), np.float32))\n"
        "print([m for m in ('tensorflow', 'keras', 'onnx') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
