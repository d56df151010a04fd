"""Satellite tiles to regional flood/drought labels with a quantized TFLite model
(see DESIGN.md and docs/imagery.md).

``run_imagery`` classifies the tiles in the inbox and stores the labels as the
``tile_labels`` lake dataset; ``region_month_table`` turns labels into the region x
month hazard table; ``open_classifier`` picks the device. Names load on first use, so
importing the package pulls in neither a model runtime nor pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports, for type checkers; at run time names load lazily
    from imagery_edge.classifier import Classifier
    from imagery_edge.device import DEVICES, DeviceChoice, open_classifier
    from imagery_edge.errors import BadTile, ImageryError, ModelUnavailable
    from imagery_edge.hazard import region_month_table
    from imagery_edge.job import ImageryResult, run_imagery, write_region_hazard
    from imagery_edge.litert import TFLiteClassifier
    from imagery_edge.model_info import ModelInfo, load_model_info
    from imagery_edge.naming import TileIdentity, tile_identity
    from imagery_edge.onnx_backend import OnnxClassifier
    from imagery_edge.raster import GeoRef, Raster, read_raster, tile_raster

__all__ = [
    "DEVICES",
    "BadTile",
    "Classifier",
    "DeviceChoice",
    "GeoRef",
    "ImageryError",
    "ImageryResult",
    "ModelInfo",
    "ModelUnavailable",
    "OnnxClassifier",
    "Raster",
    "TFLiteClassifier",
    "TileIdentity",
    "load_model_info",
    "open_classifier",
    "read_raster",
    "region_month_table",
    "run_imagery",
    "tile_identity",
    "tile_raster",
    "write_region_hazard",
]

_HOMES = {
    "device": ("DEVICES", "DeviceChoice", "open_classifier"),
    "errors": ("BadTile", "ImageryError", "ModelUnavailable"),
    "classifier": ("Classifier",),
    "hazard": ("region_month_table",),
    "job": ("ImageryResult", "run_imagery", "write_region_hazard"),
    "litert": ("TFLiteClassifier",),
    "model_info": ("ModelInfo", "load_model_info"),
    "naming": ("TileIdentity", "tile_identity"),
    "onnx_backend": ("OnnxClassifier",),
    "raster": ("GeoRef", "Raster", "read_raster", "tile_raster"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'imagery_edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"imagery_edge.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
