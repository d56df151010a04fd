"""The TFLite runtime: ``ai-edge-litert`` (``tflite-runtime`` only where it works).

XNNPACK is on (the interpreter's default delegate), the thread count is a parameter,
tiles go through in batches (the input is resized to the batch once per batch size),
and an int8 model's input is quantised, and its output dequantised, with the scale and
zero point stored in the model itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from imagery_edge.errors import ModelUnavailable
from imagery_edge.model_info import InputScaling
from imagery_edge.preprocess import fill_input

__all__ = ["TFLiteClassifier", "dequantize", "interpreter_class", "quantize"]


def interpreter_class() -> tuple[Callable[..., Any], str]:
    """The Interpreter class and a name for it: ai-edge-litert, else tflite-runtime where
    it imports and numpy is below 2 (its 2.14 wheel crashes at interpreter creation
    under numpy 2)."""
    try:
        module = importlib.import_module("ai_edge_litert.interpreter")
        return module.Interpreter, f"ai-edge-litert {_version('ai-edge-litert')}"
    except ImportError:
        pass
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        try:
            module = importlib.import_module("tflite_runtime.interpreter")
            return module.Interpreter, f"tflite-runtime {_version('tflite-runtime')}"
        except ImportError:
            pass
    raise ModelUnavailable(
        "no TFLite runtime: install ai-edge-litert (`pip install ai-edge-litert`); "
        "tflite-runtime is only usable with numpy < 2"
    )


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def quantize(values: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Affine quantisation of float values, round(x / scale) + zero_point, saturated."""
    out = np.empty(values.shape, dtype)
    fill_input(values, InputScaling(low=-np.inf, high=np.inf), (scale, zero_point), out)
    return out


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class TFLiteClassifier:
    """A ``.tflite`` hazard model on the CPU. Not thread-safe: one per thread."""

    def __init__(
        self,
        model_path: Path,
        scaling: InputScaling,
        kind: str = "tflite_int8",
        threads: int = 1,
        batch: int = 32,
        xnnpack: bool = True,
    ) -> None:
        if threads < 1 or batch < 1:
            raise ValueError(f"threads and batch must be >= 1, not {threads} and {batch}")
        interpreter, runtime = interpreter_class()
        options: dict[str, Any] = {"num_threads": threads}
        if not xnnpack:  # for benchmarks: the reference kernels without the XNNPACK delegate
            resolver = importlib.import_module(interpreter.__module__).OpResolverType
            options["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._interpreter = interpreter(model_path=str(model_path), **options)
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"the TFLite runtime cannot load {model_path}: {exc}") from exc
        self.kind, self.batch, self.threads, self.scaling = kind, batch, threads, scaling
        self.runtime = f"{runtime}, {threads} thread(s), XNNPACK {'on' if xnnpack else 'off'}"
        details = self._interpreter.get_input_details()[0]
        self._in_index = int(details["index"])
        self._shape = tuple(int(d) for d in details["shape"][1:])
        self._in_quant = _quantization(details)
        self._out_index = int(self._interpreter.get_output_details()[0]["index"])
        self._out_quant = _quantization(self._interpreter.get_output_details()[0])
        self._classes = int(self._interpreter.get_output_details()[0]["shape"][-1])
        self._rows = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(height, width, bands) the network takes."""
        return self._shape

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        tiles = np.asarray(tiles)
        if tiles.ndim != 4 or tuple(tiles.shape[1:]) != self._shape:
            raise ValueError(f"expected tiles of shape (n, {self._shape}), got {tiles.shape}")
        out = [self._run(tiles[i : i + self.batch]) for i in range(0, len(tiles), self.batch)]
        return np.concatenate(out) if out else np.zeros((0, self._classes), np.float32)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        if len(tiles) != self._rows:
            self._interpreter.resize_tensor_input(
                self._in_index, [len(tiles), *self._shape], strict=True
            )
            self._interpreter.allocate_tensors()
            self._rows = len(tiles)
        target = self._interpreter.tensor(self._in_index)()  # the input tensor's own memory
        fill_input(tiles, self.scaling, self._in_quant, target)
        del target  # no view of the interpreter's memory may live across invoke()
        self._interpreter.invoke()
        result = self._interpreter.get_tensor(self._out_index)
        if self._out_quant is None:
            return result.astype(np.float32, copy=True)
        return dequantize(result, *self._out_quant)


def _quantization(details: dict[str, Any]) -> tuple[float, int] | None:
    """The tensor's (scale, zero point), or None for a float tensor."""
    if np.dtype(details["dtype"]) == np.float32:
        return None
    scale, zero_point = details["quantization"]
    return float(scale), int(zero_point)
