"""Device choice: a GPU asked for but absent or failing means the CPU and one log line."""

from __future__ import annotations

import logging
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime
import pytest

from imagery_edge import open_classifier
from imagery_edge.device import PARITY_TOLERANCE

LOGGER = "imagery_edge.device"
TILES = np.random.default_rng(1).uniform(0, 0.4, (5, 64, 64, 6)).astype(np.float32)


def fake_ort(
    providers: list[str], session_provider: str = "CUDAExecutionProvider", fail: str = ""
) -> ModuleType:
    """onnxruntime that lists ``providers``; its sessions run on the real CPU provider but
    report ``session_provider``, and fail at ``create`` or ``run`` when told to."""

    class Session:
        def __init__(self, path: str, sess_options: Any = None, providers: Any = None) -> None:
            if fail == "create":
                raise RuntimeError("CUDA driver version is insufficient")
            self._real = onnxruntime.InferenceSession(path, sess_options=sess_options)
            self.runs = 0

        def get_providers(self) -> list[str]:
            return [session_provider, "CPUExecutionProvider"]

        def get_inputs(self) -> Any:
            return self._real.get_inputs()

        def run(self, outputs: Any, feed: dict[str, np.ndarray]) -> Any:
            self.runs += 1
            if fail == "run" or (fail == "later" and self.runs > 1):
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return self._real.run(outputs, feed)

    module = SimpleNamespace(
        __version__="fake",
        get_available_providers=lambda: providers,
        InferenceSession=Session,
        SessionOptions=onnxruntime.SessionOptions,
        GraphOptimizationLevel=onnxruntime.GraphOptimizationLevel,
    )
    return module  # type: ignore[return-value]


def device_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_cpu_as_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagery_edge")
    choice = open_classifier("cpu", onnxruntime=fake_ort(["CUDAExecutionProvider"]))
    assert choice.device == "cpu" and choice.classifier.kind == "tflite_int8"
    [line] = device_lines(caplog)
    assert line.levelno == logging.INFO and line.getMessage().startswith("device: cpu, as asked")
    assert "XNNPACK on" in line.getMessage()


@pytest.mark.parametrize(
    ("ort", "why"),
    [
        (fake_ort(["CPUExecutionProvider"]), "has no CUDA provider"),
        (fake_ort(["CUDAExecutionProvider"], "CPUExecutionProvider"), "CUDA provider did not load"),
        (fake_ort(["CUDAExecutionProvider"], fail="create"), "GPU failed a test batch"),
        (fake_ort(["CUDAExecutionProvider"], fail="run"), "GPU failed a test batch"),
    ],
)
def test_a_gpu_asked_for_but_unusable_falls_back_with_one_warning(
    caplog: pytest.LogCaptureFixture, ort: ModuleType, why: str
) -> None:
    caplog.set_level(logging.INFO, logger="imagery_edge")
    choice = open_classifier("gpu", onnxruntime=ort)
    assert choice.device == "cpu" and choice.classifier.kind == "tflite_int8"
    [line] = device_lines(caplog)
    assert line.levelno == logging.WARNING
    assert (
        line.getMessage().startswith("device: cpu, not the gpu asked for")
        and why in line.getMessage()
    )
    assert choice.classifier.predict(TILES).shape == (5, 4)


def test_auto_without_gpu_is_the_cpu_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagery_edge")
    choice = open_classifier("auto", onnxruntime=fake_ort(["CPUExecutionProvider"]))
    [line] = device_lines(caplog)
    assert choice.device == "cpu" and line.levelno == logging.INFO
    assert line.getMessage().startswith("device: cpu (auto: this onnxruntime has no CUDA provider")


def test_the_real_environment_falls_back_without_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagery_edge")
    choice = open_classifier("gpu")  # no GPU on CI machines: must still work
    assert len(device_lines(caplog)) == 1
    assert choice.classifier.predict(TILES).shape == (5, 4)


def test_a_working_gpu_agrees_with_the_cpu_and_a_mid_run_failure_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imagery_edge")
    cpu = open_classifier("cpu").classifier.predict(TILES)
    caplog.clear()
    choice = open_classifier("auto", onnxruntime=fake_ort(["CUDAExecutionProvider"], fail="later"))
    assert choice.device == "gpu" and choice.classifier.kind == "onnx_float"
    [line] = device_lines(caplog)
    assert line.getMessage().startswith("device: gpu (auto); float ONNX twin")
    caplog.clear()
    after_failure = choice.classifier.predict(TILES)  # the test batch was run 1; this fails
    [warning] = device_lines(caplog)
    assert warning.levelno == logging.WARNING and "the gpu failed" in warning.getMessage()
    assert choice.classifier.kind == "tflite_int8"
    assert np.abs(after_failure - cpu).max() == 0
    gpu_like = open_classifier("gpu", onnxruntime=fake_ort(["CUDAExecutionProvider"]))
    assert np.abs(gpu_like.classifier.predict(TILES) - cpu).max() <= PARITY_TOLERANCE


def test_an_unknown_device_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="device must be one of auto, cpu, gpu"):
        open_classifier("tpu")
