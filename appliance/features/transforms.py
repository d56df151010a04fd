"""Encoders fitted on the training part only, then applied unchanged everywhere.

A numeric feature is clipped to fitted quantiles, log-transformed, binned into fitted
quantile bins and mean-imputed, each step only where the spec asks for it (imputation
always). A categorical feature becomes integer codes over the levels seen in training,
with one level for missing values and one for values never seen in training. Encoders
are plain values that round-trip through JSON, so a model's scoring uses exactly the
parameters its training fitted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "MISSING",
    "UNSEEN",
    "CategoricalEncoder",
    "Encoder",
    "NumericEncoder",
    "encoder_from_dict",
    "fit_categorical",
    "fit_numeric",
]

MISSING = "(missing)"
UNSEEN = "(other)"


@dataclass(frozen=True)
class NumericEncoder:
    name: str
    mean: float
    clip: tuple[float, float] | None = None
    log: bool = False
    bin_edges: tuple[float, ...] | None = None

    kind = "numeric"

    def apply(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        x = np.where(np.isfinite(x), x, np.nan)
        if self.clip is not None:
            x = np.clip(x, self.clip[0], self.clip[1])
        if self.log:
            x = _signed_log(x)
        if self.bin_edges is not None:
            codes = np.searchsorted(np.asarray(self.bin_edges), x, side="right").astype(float)
            x = np.where(np.isnan(x), np.nan, codes)
        return np.where(np.isnan(x), self.mean, x)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class CategoricalEncoder:
    name: str
    levels: tuple[str, ...]

    kind = "categorical"

    @property
    def categories(self) -> tuple[str, ...]:
        """Every code's label: the training levels, then missing, then unseen."""
        return (*self.levels, MISSING, UNSEEN)

    def apply(self, values: np.ndarray) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        text = _as_arrow_text(values)
        index = pc.index_in(text, value_set=pa.array(self.levels, pa.string()))
        codes = pc.fill_null(index, len(self.levels) + 1).to_numpy(zero_copy_only=False)
        missing = pc.is_null(text).to_numpy(zero_copy_only=False)
        return np.where(missing, len(self.levels), codes).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "levels": list(self.levels)}


Encoder = NumericEncoder | CategoricalEncoder


def fit_numeric(
    name: str,
    values: np.ndarray,
    *,
    clip: tuple[float, float] | None = None,
    log: bool = False,
    bins: int | None = None,
) -> NumericEncoder:
    """Fit clip bounds, bin edges and the imputation mean on training values."""
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    bounds = None
    if clip is not None and finite.size:
        low, high = np.quantile(finite, clip)
        bounds = (float(low), float(high))
        finite = np.clip(finite, low, high)
    if log:
        finite = _signed_log(finite)
    edges = None
    if bins is not None and finite.size:
        inner = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = tuple(float(e) for e in inner)
        finite = np.searchsorted(inner, finite, side="right").astype(float)
    mean = float(finite.mean()) if finite.size else 0.0
    return NumericEncoder(name, mean, bounds, log, edges)


def fit_categorical(name: str, values: np.ndarray, *, min_count: int = 1) -> CategoricalEncoder:
    """Levels seen at least ``min_count`` times in training, sorted for stable codes."""
    import pyarrow.compute as pc

    counts = pc.value_counts(pc.drop_null(_as_arrow_text(values)))
    kept = [v for v, n in zip(*counts.flatten(), strict=True) if n.as_py() >= min_count]
    return CategoricalEncoder(name, tuple(sorted(str(v.as_py()) for v in kept)))


def encoder_from_dict(data: dict[str, Any]) -> Encoder:
    if data["kind"] == "categorical":
        return CategoricalEncoder(data["name"], tuple(data["levels"]))
    clip = tuple(data["clip"]) if data.get("clip") is not None else None
    edges = tuple(data["bin_edges"]) if data.get("bin_edges") is not None else None
    return NumericEncoder(data["name"], data["mean"], clip, data["log"], edges)


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _as_arrow_text(values: np.ndarray) -> Any:
    """An object array of strings (None = missing) as an Arrow string array."""
    import pyarrow as pa

    return pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)
