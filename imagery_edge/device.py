"""Choosing where the hazard model runs: ``auto``, ``cpu`` or ``gpu``.

- ``cpu``: the int8 TFLite model under XNNPACK.
- ``gpu``/``auto``: the float ONNX twin on ONNX Runtime's CUDA provider (``.[gpu]``
  installs ``onnxruntime-gpu``) when the provider is there, a session really runs on it,
  and a test batch goes through; otherwise the CPU, as above.

One log line (logger ``imagery_edge.device``) says which device runs and why. A GPU that
was asked for but is absent or fails, at start or mid-run, means the CPU and a warning,
never an exception. On any device, classes agree and probabilities stay within
``PARITY_TOLERANCE`` of the int8 CPU model (tested).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from imagery_edge.classifier import Classifier
from imagery_edge.errors import ModelUnavailable
from imagery_edge.litert import TFLiteClassifier
from imagery_edge.model_info import ModelInfo, load_model_info
from imagery_edge.onnx_backend import OnnxClassifier

__all__ = ["DEVICES", "PARITY_TOLERANCE", "DeviceChoice", "open_classifier"]

DEVICES = ("auto", "cpu", "gpu")
PARITY_TOLERANCE = 0.05
"""Largest difference in any class probability between devices (int8 vs float)."""
_CUDA = "CUDAExecutionProvider"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceChoice:
    classifier: Classifier
    device: str
    """``cpu`` or ``gpu``: where it runs."""
    reason: str
    """The log line: which device and why."""


def open_classifier(
    device: str = "auto",
    threads: int = 1,
    batch: int = 32,
    info: ModelInfo | None = None,
    *,
    onnxruntime: ModuleType | None = None,
) -> DeviceChoice:
    """The hazard model, ready on the best allowed device, and one log line saying which.

    ``onnxruntime`` replaces the real module (tests pass a fake GPU)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    info = info or load_model_info()

    def cpu() -> Classifier:
        return TFLiteClassifier(
            info.path("tflite_int8"), info.scaling, "tflite_int8", threads, batch
        )

    if device == "cpu":
        model = cpu()
        return _chosen(model, "cpu", f"device: cpu, as asked; int8 TFLite on {model.runtime}")
    gpu, problem = _cuda(info, threads, batch, onnxruntime)
    if gpu is not None:
        line = f"device: gpu ({device}); float ONNX twin on {gpu.runtime}"
        return _chosen(_FallBackToCpu(gpu, cpu), "gpu", line)
    model = cpu()
    if device == "gpu":
        line = f"device: cpu, not the gpu asked for: {problem}; int8 TFLite on {model.runtime}"
        return _chosen(model, "cpu", line, logging.WARNING)
    return _chosen(model, "cpu", f"device: cpu (auto: {problem}); int8 TFLite on {model.runtime}")


def _chosen(
    classifier: Classifier, device: str, line: str, level: int = logging.INFO
) -> DeviceChoice:
    log.log(level, line)
    return DeviceChoice(classifier, device, line)


def _cuda(
    info: ModelInfo, threads: int, batch: int, onnxruntime: ModuleType | None
) -> tuple[OnnxClassifier | None, str]:
    """The ONNX model on CUDA, or None and why not."""
    ort = onnxruntime
    if ort is None:
        try:
            ort = importlib.import_module("onnxruntime")
        except ImportError:
            return None, "onnxruntime is not installed; .[gpu] installs onnxruntime-gpu"
    if _CUDA not in ort.get_available_providers():
        return None, "this onnxruntime has no CUDA provider; .[gpu] installs onnxruntime-gpu"
    try:
        model = OnnxClassifier(
            info.path("onnx_float"), info.scaling, "onnx_float",
            [_CUDA, "CPUExecutionProvider"], threads, batch, onnxruntime=ort,
        )  # fmt: skip
        if model.provider != _CUDA:
            return None, "the CUDA provider did not load: no usable GPU or CUDA libraries"
        size = info.tile_size
        model.predict(np.zeros((1, size, size, len(info.bands)), np.float32))
    except ModelUnavailable as exc:
        return None, str(exc)
    except Exception as exc:  # a driver or CUDA library failing: many error types
        return None, f"the GPU failed a test batch: {type(exc).__name__}: {exc}"
    return model, ""


class _FallBackToCpu:
    """A GPU classifier that, if it fails mid-run, logs once and carries on on the CPU."""

    def __init__(self, gpu: OnnxClassifier, cpu: Callable[[], Classifier]) -> None:
        self._current: Classifier = gpu
        self._cpu: Callable[[], Classifier] | None = cpu
        self.kind, self.runtime = gpu.kind, gpu.runtime

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        try:
            return self._current.predict(tiles)
        except Exception as exc:
            if self._cpu is None:
                raise
            log.warning(
                "device: cpu from now on: the gpu failed (%s: %s); int8 TFLite with XNNPACK",
                type(exc).__name__, exc,
            )  # fmt: skip
            self._current, self._cpu = self._cpu(), None
            self.kind, self.runtime = self._current.kind, self._current.runtime
            return self._current.predict(tiles)
