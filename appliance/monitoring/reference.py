"""A model version's stored reference statistics, read into typed values.

The trainer writes them (``appliance.training.reference``); this module reads both
formats. Everything is a comparison target for one monitored window: decile bins and
frequencies (PSI, Jensen-Shannon), the empirical CDF at up to 101 points (KS,
Wasserstein; format 2 only) and missing rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.features.transforms import MISSING, UNSEEN
from appliance.monitoring.errors import MonitoringError

__all__ = ["CategoricalReference", "NumericReference", "Reference", "rounded"]


@dataclass(frozen=True)
class NumericReference:
    name: str
    rows: int
    edges: NDArray[np.float64]
    """Interior decile edges; a value falls in bin ``#(edges <= value)``."""
    frequencies: NDArray[np.float64]
    points: NDArray[np.float64] | None
    """Where the empirical CDF is known (format 2), ascending."""
    cdf: NDArray[np.float64] | None
    """Share of reference values at or below each point."""
    raw_missing: float | None
    """Missing rate before imputation; None where the reference does not have it."""
    std: float | None


@dataclass(frozen=True)
class CategoricalReference:
    name: str
    rows: int
    categories: tuple[str, ...]
    """The training levels, then ``(missing)`` and ``(other)``: the encoder's codes."""
    frequencies: NDArray[np.float64]

    def share(self, category: str) -> float:
        return float(self.frequencies[self.categories.index(category)])

    @property
    def missing(self) -> float:
        return self.share(MISSING) if MISSING in self.categories else 0.0

    @property
    def other(self) -> float:
        return self.share(UNSEEN) if UNSEEN in self.categories else 0.0


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class Reference:
    format: int
    rows: int
    features: Mapping[str, FeatureReference]
    score: NumericReference | None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, subject: str, score_rows: int | None = None
    ) -> Reference:
        """Read a stored reference; MonitoringError naming ``subject`` if it is unusable.
        ``score_rows`` (the test rows) stands in where a format-1 reference lacks it."""
        try:
            rows = int(data.get("rows") or 0)
            features = {
                name: _feature(name, raw, rows) for name, raw in dict(data["features"]).items()
            }
            score_raw = data.get("score")
            score = _numeric("(score)", score_raw, score_rows or rows) if score_raw else None
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringError(
                f"{subject}: its stored reference statistics are incomplete ({exc}); "
                "retrain the model to monitor it"
            ) from exc
        return cls(int(data.get("format", 1)), rows, features, score)


def _feature(name: str, raw: Mapping[str, Any], rows: int) -> FeatureReference:
    if raw["type"] == "categorical":
        return CategoricalReference(
            name, int(raw.get("rows", rows)), tuple(str(c) for c in raw["categories"]),
            np.asarray(raw["frequencies"], dtype=np.float64),
        )  # fmt: skip
    return _numeric(name, raw, rows)


def _numeric(name: str, raw: Mapping[str, Any], rows: int) -> NumericReference:
    points = raw.get("points")
    cdf = raw.get("cdf")
    has_cdf = bool(points) and cdf is not None and len(cdf) == len(points or ())
    std = raw.get("std")
    return NumericReference(
        name=name,
        rows=int(raw.get("rows", rows)),
        edges=np.asarray(raw["edges"], dtype=np.float64),
        frequencies=np.asarray(raw["frequencies"], dtype=np.float64),
        points=np.asarray(points, dtype=np.float64) if has_cdf else None,
        cdf=np.asarray(cdf, dtype=np.float64) if has_cdf else None,
        raw_missing=float(raw["raw_missing"]) if raw.get("raw_missing") is not None else None,
        std=float(std) if std is not None else None,
    )


def rounded(ref: NumericReference, decimals: int) -> NumericReference:
    """``ref`` with its edges and CDF points rounded to ``decimals``, to compare values
    logged at that precision (the served probability) without a spurious shift at an
    edge that sits on a common value."""
    from dataclasses import replace

    edges = np.unique(np.round(ref.edges, decimals))
    frequencies = ref.frequencies
    if edges.size != ref.edges.size:  # merged edges: merge their bins
        index = np.searchsorted(edges, np.round(ref.edges, decimals), side="left") + 1
        merged = np.bincount(np.r_[0, index], weights=ref.frequencies, minlength=edges.size + 1)
        frequencies = merged.astype(np.float64)
    points, cdf = ref.points, ref.cdf
    if points is not None and cdf is not None:
        points, last = np.unique(np.round(points, decimals)[::-1], return_index=True)
        cdf = cdf[::-1][last]
    return replace(ref, edges=edges, frequencies=frequencies, points=points, cdf=cdf)
