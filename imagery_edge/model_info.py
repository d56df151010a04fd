"""The hazard model's metadata (``models/hazard.json``) and its shipped files, hash-checked.

The JSON is written by ``python -m imagery_edge.train`` next to the model files; it is
the one place that says which classes the network outputs, in which band order and
scaling it wants its input, how it was trained and how accurate it was on held-out
tiles. Every model file is checked against the SHA-256 recorded there before use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagery_edge.errors import ModelUnavailable

__all__ = ["ARTIFACTS", "InputScaling", "ModelInfo", "load_model_info", "shipped_model_dir"]

ARTIFACTS = ("tflite_int8", "tflite_float", "onnx_float", "onnx_int8")
"""The model files, by kind: what runs on the CPU, its float32 twin, the ONNX twins."""


def shipped_model_dir() -> Path:
    """The folder inside the installed package that holds the shipped model."""
    return Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class InputScaling:
    """How pixels become the network's input: uint16 tiles are Landsat Collection 2
    Level-2 numbers (reflectance = DN * dn_scale + dn_offset), float tiles are reflectance
    already; either way reflectance is clipped to [low, high]."""

    dn_scale: float = 2.75e-5
    dn_offset: float = -0.2
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (self.dn_scale > 0 and self.low < self.high):
            raise ValueError(f"invalid input scaling {self}")

    def affine(self, dtype: Any) -> tuple[float, float]:
        """(gain, offset) taking pixels of ``dtype`` to reflectance."""
        kind = np.dtype(dtype)
        if kind == np.uint16:
            return self.dn_scale, self.dn_offset
        if kind.kind == "f":
            return 1.0, 0.0
        raise ValueError(f"tiles must be uint16 Landsat numbers or float reflectance, not {kind}")


@dataclass(frozen=True)
class ModelInfo:
    """What a runtime needs to know about the model, read from its JSON metadata."""

    name: str
    version: str
    classes: tuple[str, ...]
    """Output order of the probabilities."""
    bands: tuple[str, ...]
    """Input channel order (last axis)."""
    tile_size: int
    """Input height and width in pixels."""
    dn_scale: float
    """uint16 tiles are Landsat C2 L2 numbers: reflectance = DN * dn_scale + dn_offset."""
    dn_offset: float
    reflectance_range: tuple[float, float]
    """Reflectance is clipped to this range before it reaches the network."""
    files: dict[str, str]
    """Artifact kind (``ARTIFACTS``) -> file name in ``folder``."""
    sha256: dict[str, str]
    folder: Path
    training: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)

    @property
    def scaling(self) -> InputScaling:
        low, high = self.reflectance_range
        return InputScaling(self.dn_scale, self.dn_offset, low, high)

    def path(self, kind: str) -> Path:
        """The file of one artifact kind, after checking its SHA-256 against the metadata."""
        if kind not in self.files:
            raise ModelUnavailable(f"the hazard model in {self.folder} has no {kind} file")
        path = self.folder / self.files[kind]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ModelUnavailable(f"cannot read model file {path}: {exc.strerror}") from exc
        if digest != self.sha256.get(kind):
            raise ModelUnavailable(
                f"{path} does not match the SHA-256 in hazard.json; reinstall the package "
                "or retrain with `python -m imagery_edge.train`"
            )
        return path

    def model_version(self, kind: str) -> str:
        """A version string naming the network and the exact file: ``name-1+tflite_int8.ab12..``."""
        return f"{self.name}-{self.version}+{kind}.{self.sha256.get(kind, '?')[:12]}"


def load_model_info(folder: Path | None = None) -> ModelInfo:
    """Read ``hazard.json`` from ``folder`` (default: the shipped model)."""
    folder = Path(folder) if folder is not None else shipped_model_dir()
    path = folder / "hazard.json"
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        scaling = raw["input"]
        return ModelInfo(
            name=str(raw["name"]),
            version=str(raw["version"]),
            classes=tuple(raw["classes"]),
            bands=tuple(scaling["bands"]),
            tile_size=int(scaling["tile_size"]),
            dn_scale=float(scaling["dn_scale"]),
            dn_offset=float(scaling["dn_offset"]),
            reflectance_range=(float(scaling["clip"][0]), float(scaling["clip"][1])),
            files={str(k): str(v) for k, v in raw["files"].items()},
            sha256={str(k): str(v) for k, v in raw["sha256"].items()},
            folder=folder,
            training=dict(raw.get("training", {})),
            accuracy=dict(raw.get("accuracy", {})),
        )
    except OSError as exc:
        raise ModelUnavailable(
            f"no hazard model metadata at {path} ({exc.strerror}); "
            "retrain with `python -m imagery_edge.train`"
        ) from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelUnavailable(f"{path} is not valid hazard model metadata: {exc!r}") from exc
