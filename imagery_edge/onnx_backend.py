"""ONNX Runtime: the same network exported to ONNX, on the CUDA provider (``.[gpu]``)
or the CPU provider (benchmarks, parity tests)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from imagery_edge.errors import ModelUnavailable
from imagery_edge.model_info import InputScaling
from imagery_edge.preprocess import fill_input

__all__ = ["OnnxClassifier", "import_onnxruntime"]


def import_onnxruntime() -> ModuleType:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailable(
            "onnxruntime is not installed: `pip install onnxruntime` (CPU) or "
            "`pip install .[gpu]` (onnxruntime-gpu, for CUDA)"
        ) from exc
    return onnxruntime


class OnnxClassifier:
    """An ONNX hazard model in an ONNX Runtime session with the given providers."""

    def __init__(
        self,
        model_path: Path,
        scaling: InputScaling,
        kind: str = "onnx_float",
        providers: list[Any] | None = None,
        threads: int = 1,
        batch: int = 32,
        onnxruntime: ModuleType | None = None,
    ) -> None:
        ort = onnxruntime or import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.kind, self.batch, self.scaling = kind, batch, scaling
        self.provider = str(self._session.get_providers()[0])
        device = "gpu" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.runtime = (
            f"onnxruntime {ort.__version__}, {device} ({self.provider}), {threads} thread(s)"
        )

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        tiles = np.asarray(tiles)
        out = []
        for start in range(0, len(tiles), self.batch):
            part = tiles[start : start + self.batch]
            reflectance = np.empty(part.shape, np.float32)
            fill_input(part, self.scaling, None, reflectance)
            out.append(self._session.run(None, {self._input: reflectance})[0])
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 4), np.float32)
