"""The segmentation artifact: one JSON file holding everything assignment needs.

Per feature its transform, imputation median, centre and scale; the centroids in the
scaled space; and how they were chosen (k, silhouette by k, sizes, scikit-learn's
version). Assignment is the nearest centroid, in numpy: serving needs neither
scikit-learn nor a pickle. Floats are written with ``repr`` precision, so a loaded
artifact assigns exactly as the trained one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.errors import SchemaError
from appliance.segmentation.inputs import FeatureTransform
from appliance.segmentation.scaling import Scaler

__all__ = [
    "ARTIFACT_FILE",
    "FORMAT_VERSION",
    "SegmentFeature",
    "SegmentationArtifact",
    "assign",
    "nearest_centroid",
]

ARTIFACT_FILE = "segmentation.json"
FORMAT_VERSION = 1
_CHUNK = 65_536


@dataclass(frozen=True)
class SegmentFeature:
    """One input: how its built value becomes a coordinate of the scaled space."""

    transform: FeatureTransform
    median: float
    centre: float
    scale: float

    @property
    def name(self) -> str:
        return self.transform.name


@dataclass(frozen=True, eq=False)
class SegmentationArtifact:
    usecase: str
    features: tuple[SegmentFeature, ...]
    scaling: str
    centroids: np.ndarray
    """(k, features) in the scaled space; row ``i`` is segment ``i`` (largest first)."""
    sizes: tuple[int, ...]
    """Training rows per segment: the reference for segment-size drift."""
    silhouette: Mapping[int, float | None]
    algorithm: str
    seed: int
    sklearn_version: str
    spec_sha256: str
    trained_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = np.asarray(self.centroids, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != len(self.features) or c.shape[0] < 2:
            raise SchemaError(
                f"segmentation of {self.usecase!r}: centroids of shape {c.shape} do not fit "
                f"{len(self.features)} features and at least 2 segments"
            )
        if len(self.sizes) != c.shape[0] or not np.isfinite(c).all():
            raise SchemaError(f"segmentation of {self.usecase!r}: sizes or centroids are invalid")
        object.__setattr__(self, "centroids", c)

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def shares(self) -> tuple[float, ...]:
        total = sum(self.sizes)
        return tuple(s / total if total else 0.0 for s in self.sizes)

    @property
    def scaler(self) -> Scaler:
        return Scaler(
            np.array([f.median for f in self.features]),
            np.array([f.centre for f in self.features]),
            np.array([f.scale for f in self.features]),
        )

    def matrix(self, feature_rows: Mapping[str, Any] | np.ndarray) -> np.ndarray:
        """Built feature values -> the (rows, features) matrix, transformed, not yet scaled.

        ``feature_rows`` maps each feature name to its values (one value for one
        customer, or an array), or is a (rows, features) array in ``names`` order.
        Missing values are NaN (or None).
        """
        if isinstance(feature_rows, Mapping):
            absent = [n for n in self.names if n not in feature_rows]
            if absent:
                raise SchemaError(
                    f"segmentation of {self.usecase!r} needs feature(s) "
                    f"{', '.join(absent)}; given: {', '.join(map(str, feature_rows)) or 'none'}"
                )
            columns = [_floats(feature_rows[n], n) for n in self.names]
            lengths = {c.size for c in columns}
            if len(lengths) > 1:
                raise SchemaError(f"feature columns differ in length: {sorted(lengths)}")
            built = np.column_stack(columns) if columns else np.empty((0, 0))
        else:
            built = _floats(feature_rows, "feature_rows", flat=False)
            if built.ndim == 1:
                built = built.reshape(1, -1)
            if built.ndim != 2 or built.shape[1] != len(self.features):
                raise SchemaError(
                    f"segmentation of {self.usecase!r} takes {len(self.features)} feature "
                    f"columns ({', '.join(self.names)}), got an array of shape {built.shape}"
                )
        return np.column_stack(
            [f.transform.apply(built[:, j]) for j, f in enumerate(self.features)]
        ).reshape(built.shape[0], len(self.features))

    def scaled(self, feature_rows: Mapping[str, Any] | np.ndarray) -> np.ndarray:
        return self.scaler.apply(self.matrix(feature_rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "kind": "kmeans-segmentation",
            "usecase": self.usecase,
            "k": self.k,
            "scaling": self.scaling,
            "features": [
                {"name": f.name, "clip": list(f.transform.clip) if f.transform.clip else None,
                 "log": f.transform.log,
                 "bin_edges": list(f.transform.bin_edges) if f.transform.bin_edges else None,
                 "median": f.median, "centre": f.centre, "scale": f.scale}
                for f in self.features
            ],
            "centroids": self.centroids.tolist(),
            "sizes": list(self.sizes),
            "silhouette": {str(k): v for k, v in sorted(self.silhouette.items())},
            "algorithm": self.algorithm,
            "seed": self.seed,
            "sklearn_version": self.sklearn_version,
            "spec_sha256": self.spec_sha256,
            "trained_at": self.trained_at,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }  # fmt: skip

    def to_json(self) -> bytes:
        """Canonical JSON bytes (what is hashed and stored); NaN is refused."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], where: str = "segmentation artifact"
    ) -> SegmentationArtifact:
        if data.get("format") != FORMAT_VERSION or data.get("kind") != "kmeans-segmentation":
            raise SchemaError(
                f"{where}: format {data.get('format')!r} / kind {data.get('kind')!r} is not a "
                f"k-means segmentation of format {FORMAT_VERSION}"
            )
        try:
            features = tuple(_feature(f) for f in data["features"])
            return cls(
                usecase=str(data["usecase"]), features=features, scaling=str(data["scaling"]),
                centroids=np.asarray(data["centroids"], dtype=np.float64),
                sizes=tuple(int(s) for s in data["sizes"]),
                silhouette={int(k): v for k, v in data["silhouette"].items()},
                algorithm=str(data["algorithm"]), seed=int(data["seed"]),
                sklearn_version=str(data["sklearn_version"]),
                spec_sha256=str(data["spec_sha256"]), trained_at=str(data["trained_at"]),
                extra=dict(data.get("extra") or {}),
            )  # fmt: skip
        except SchemaError as exc:
            raise SchemaError(f"{where}: malformed ({exc})") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SchemaError(f"{where}: malformed ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def from_json(cls, data: bytes, where: str = "segmentation artifact") -> SegmentationArtifact:
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{where}: not JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise SchemaError(f"{where}: not a JSON object")
        return cls.from_dict(parsed, where)


def assign(
    artifact: SegmentationArtifact, feature_rows: Mapping[str, Any] | np.ndarray
) -> np.ndarray:
    """Each row's segment (int64, 0 = the largest training segment): the nearest centroid
    after the stored transform, median imputation and scaling."""
    return nearest_centroid(artifact.centroids, artifact.scaled(feature_rows))


def nearest_centroid(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) of each row of ``x``; ties go to the lower."""
    c = np.asarray(centroids, dtype=np.float64)
    rows = np.asarray(x, dtype=np.float64)
    out = np.empty(rows.shape[0], dtype=np.int64)
    for start in range(0, rows.shape[0], _CHUNK):
        block = rows[start : start + _CHUNK]
        best = np.full(block.shape[0], np.inf)
        label = np.zeros(block.shape[0], dtype=np.int64)
        for j in range(c.shape[0]):
            d = block - c[j]
            dist = np.einsum("ij,ij->i", d, d)
            closer = dist < best
            best = np.where(closer, dist, best)
            label[closer] = j
        out[start : start + _CHUNK] = label
    return out


def _floats(values: Any, name: str, flat: bool = True) -> np.ndarray:
    try:
        arr = np.asarray(values)
        if arr.dtype == object:
            arr = np.where(np.equal(arr, np.array(None)), np.nan, arr)
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"feature {name!r}: values must be numbers ({exc})") from exc
    return np.atleast_1d(arr).ravel() if flat else arr


def _feature(raw: Mapping[str, Any]) -> SegmentFeature:
    clip = tuple(raw["clip"]) if raw.get("clip") is not None else None
    edges = tuple(raw["bin_edges"]) if raw.get("bin_edges") is not None else None
    numbers = [float(raw[key]) for key in ("median", "centre", "scale")]
    if not all(math.isfinite(v) for v in numbers) or numbers[2] == 0:
        raise ValueError(f"feature {raw.get('name')!r}: median, centre and scale must be finite")
    transform = FeatureTransform(str(raw["name"]), clip, bool(raw["log"]), edges)
    return SegmentFeature(transform, *numbers)
