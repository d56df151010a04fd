"""Median imputation and scaling of the segmentation's inputs, fitted once, stored, reapplied.

``standard`` centres on the mean and divides by the standard deviation, ``robust`` on
the median and the interquartile range, ``none`` leaves the numbers as they are. Both
statistics are taken after imputation. A feature whose spread is 0 cannot be scaled
and is refused with its name; so is a matrix with fewer distinct rows than segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from appliance.errors import SchemaError
from appliance.segmentation.spec import Scaling

__all__ = ["Scaler", "check_distinct_rows", "fit_scaler"]


@dataclass(frozen=True, eq=False)
class Scaler:
    """Per feature: the median that fills a missing value, then the centre and the scale."""

    medians: np.ndarray
    centres: np.ndarray
    scales: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """(rows, features) with NaN for missing -> imputed and scaled float64."""
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.medians.size:
            raise SchemaError(
                f"expected {self.medians.size} feature columns, got an array of shape {x.shape}"
            )
        filled = np.where(np.isfinite(x), x, self.medians)
        return (filled - self.centres) / self.scales


def fit_scaler(
    values: np.ndarray, names: Sequence[str], scaling: Scaling, origin: str = "the spec"
) -> Scaler:
    """Medians from the known values, then centres and scales for ``scaling``."""
    x = np.asarray(values, dtype=np.float64)
    known = np.isfinite(x)
    masked = np.where(known, x, np.nan)
    medians = np.nanmedian(masked, axis=0)
    filled = np.where(known, x, medians)
    if scaling == "none":
        return Scaler(medians, np.zeros_like(medians), np.ones_like(medians))
    if scaling == "standard":
        centres, scales = filled.mean(axis=0), filled.std(axis=0)
        spread = "a standard deviation"
    else:
        q25, centres, q75 = np.quantile(filled, [0.25, 0.5, 0.75], axis=0)
        scales = q75 - q25
        spread = "an interquartile range"
    for j, name in enumerate(names):
        if not scales[j] > 1e-12 * max(1.0, abs(float(centres[j]))):
            hint = (
                'use scaling = "standard" or leave it out'
                if scaling == "robust" and np.ptp(filled[:, j]) > 0
                else "leave it out"
            )
            raise SchemaError(
                f"{origin}: segmentation.features: {name!r} has {spread} of 0 after median "
                f"imputation (most rows are {_typical(filled[:, j])}), so {scaling} scaling "
                f"would divide by zero; {hint}"
            )
    return Scaler(medians, centres, scales)


def check_distinct_rows(scaled: np.ndarray, k_max: int, origin: str = "the spec") -> int:
    """The number of distinct rows; SchemaError when fewer than ``k_max`` segments fit."""
    distinct = int(np.unique(scaled, axis=0).shape[0]) if scaled.size else 0
    if distinct < k_max:
        raise SchemaError(
            f"{origin}: segmentation.segments: {k_max} segments were asked for, but the "
            f"{scaled.shape[0]:,} rows hold only {distinct} distinct combinations of the "
            "features: ask for fewer segments or add features"
        )
    return distinct


def _typical(column: np.ndarray) -> str:
    values, counts = np.unique(column, return_counts=True)
    return f"{values[np.argmax(counts)]:g}"
