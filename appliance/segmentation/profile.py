"""Profiling segments: size, share, feature means against the population, predictions.

Pure computation on arrays; the report (``appliance.segmentation.report``) formats and
draws the result. Means are of the built feature values as the models see them,
missing values left out; a z-score is the segment mean's distance from the population
mean in population standard deviations (0 where the feature does not vary).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ModelColumn", "SegmentProfile", "profile_segments"]


@dataclass(frozen=True)
class ModelColumn:
    """A production model's predictions on the population rows, to average per segment."""

    model: str
    version: int
    kind: str
    """``classification`` (a propensity) or ``regression`` (an amount)."""
    target: str
    values: np.ndarray = field(repr=False)

    @property
    def label(self) -> str:
        what = "propensity" if self.kind == "classification" else f"predicted {self.target}"
        return f"mean {what} ({self.model} v{self.version})"


@dataclass(frozen=True, eq=False)
class SegmentProfile:
    names: tuple[str, ...]
    sizes: np.ndarray
    population_mean: np.ndarray
    population_std: np.ndarray
    means: np.ndarray
    """(segments, features)."""
    z: np.ndarray
    """(segments, features) standardized mean differences."""
    predictions: Mapping[str, tuple[np.ndarray, float]]
    """Column label -> (mean per segment, population mean)."""

    @property
    def k(self) -> int:
        return int(self.sizes.size)

    @property
    def rows(self) -> int:
        return int(self.sizes.sum())

    @property
    def shares(self) -> np.ndarray:
        return self.sizes / max(self.rows, 1)

    def distinctive(self, segment: int, top: int = 3, floor: float = 0.25) -> list[str]:
        """The features that set ``segment`` apart most, as ``name ↑`` / ``name ↓``."""
        z = self.z[segment]
        order = np.argsort(-np.abs(z), kind="stable")
        return [f"{self.names[j]} {'↑' if z[j] > 0 else '↓'}" for j in order[:top]
                if abs(z[j]) >= floor]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": list(self.names),
            "population": {
                "mean": _plain(self.population_mean), "std": _plain(self.population_std)
            },
            "segments": [
                {
                    "segment": i, "size": int(self.sizes[i]), "share": float(self.shares[i]),
                    "mean": dict(zip(self.names, _plain(self.means[i]), strict=True)),
                    "z": dict(zip(self.names, _plain(self.z[i]), strict=True)),
                    "predictions": {
                        label: _num(m[i]) for label, (m, _) in self.predictions.items()
                    },
                    "distinctive": self.distinctive(i),
                }
                for i in range(self.k)
            ],
            "predictions": {label: _num(pop) for label, (_, pop) in self.predictions.items()},
        }  # fmt: skip


def profile_segments(
    raw: np.ndarray,
    labels: np.ndarray,
    k: int,
    names: Sequence[str],
    models: Sequence[ModelColumn] = (),
) -> SegmentProfile:
    """Sizes, per-segment means and z-scores of ``raw`` (rows, features; NaN missing)."""
    x = np.asarray(raw, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    seg = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(seg, minlength=k)[:k]
    pop_mean = _nanmean(x, axis=0)
    pop_std = _nanstd(x)
    means = np.vstack([_nanmean(x[seg == i], axis=0) for i in range(k)])
    spread = np.where(pop_std > 0, pop_std, np.nan)
    z = np.nan_to_num((means - pop_mean) / spread, nan=0.0)
    predictions = {}
    for column in models:
        v = np.asarray(column.values, dtype=np.float64)
        per = np.array([_nanmean(v[seg == i], axis=0) for i in range(k)], dtype=np.float64)
        predictions[column.label] = (per, float(_nanmean(v, axis=0)))
    return SegmentProfile(tuple(names), sizes, pop_mean, pop_std, means, z, predictions)


def _nanmean(x: np.ndarray, axis: int) -> Any:
    known = np.isfinite(x)
    count = known.sum(axis=axis)
    total = np.where(known, x, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _nanstd(x: np.ndarray) -> np.ndarray:
    mean = _nanmean(x, axis=0)
    known = np.isfinite(x)
    count = known.sum(axis=0)
    sq = np.where(known, (x - mean) ** 2, 0.0).sum(axis=0)
    return np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.nan)


def _num(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None


def _plain(values: np.ndarray) -> list[float | None]:
    return [_num(v) for v in values]
