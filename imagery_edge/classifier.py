"""The one interface every hazard-model runtime offers, and its result type."""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Classifier"]


class Classifier(Protocol):
    """Turns a batch of tiles into class probabilities.

    ``predict`` takes tiles (n, size, size, bands) in the model's band order, as uint16
    Landsat Collection 2 Level-2 numbers or float reflectance, and returns float32
    probabilities (n, classes) in the model's class order. Converting the pixels to the
    network's input (reflectance, clipped; for int8 networks quantised with the model's
    own scale and zero point) is the classifier's job."""

    kind: str
    """Which model file runs: ``tflite_int8``, ``tflite_float``, ``onnx_float``, ``onnx_int8``."""
    runtime: str
    """Library and version, and the device or provider, for logs and reports."""

    def predict(self, tiles: np.ndarray) -> np.ndarray: ...
