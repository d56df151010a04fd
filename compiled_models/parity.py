"""Does a compiled library give the same probabilities as XGBoost? Rows chosen to catch it if not.

Real rows alone rarely probe the corners where a code generator goes wrong, so the
probe set adds rows built to hit them: missing values everywhere and nowhere, zeros
and signed zeros, float32 extremes and subnormals, every split threshold and the
float32 values either side of it, and category codes the model never saw (negative,
past the last level, fractional, huge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "AMOUNT_OBJECTIVES",
    "TOLERANCE",
    "ParityReport",
    "RowScorer",
    "check_parity",
    "probe_rows",
]

TOLERANCE = 1e-5
"""The largest |p_compiled - p_xgboost| a library may show on any probe row; for a model
that predicts amounts (a regression), the largest difference relative to the amount
(|y_compiled - y_xgboost| / max(1, |y_xgboost|)): the libraries compute in float32, whose
rounding grows with the amount."""

AMOUNT_OBJECTIVES = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror")
"""XGBoost objectives whose outputs are amounts, checked with a relative tolerance."""
_F32 = np.finfo(np.float32)
_EXTREMES = np.array(
    [0.0, -0.0, 1.0, -1.0, _F32.max, -_F32.max, 1e30, -1e30, _F32.smallest_subnormal,
     -_F32.smallest_subnormal, _F32.tiny, 0.5, 1e-8],
    dtype=np.float64,
)  # fmt: skip


class RowScorer(Protocol):
    def predict(self, rows: np.ndarray, *, threads: int = 1, margin: bool = False) -> np.ndarray:
        """Probabilities (or margins) for a matrix of rows."""
        ...


@dataclass(frozen=True)
class ParityReport:
    rows: int
    max_abs_diff: float
    worst_row: int
    tolerance: float
    relative: bool = False

    @property
    def passed(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "max_abs_diff": self.max_abs_diff,
                "worst_row": self.worst_row, "tolerance": self.tolerance,
                "relative": self.relative, "passed": self.passed}  # fmt: skip


def probe_rows(
    n_features: int,
    *,
    real: np.ndarray | None = None,
    thresholds: Mapping[int, np.ndarray] | None = None,
    categorical: Mapping[int, int] | None = None,
    seed: int = 0,
    max_real: int = 20_000,
) -> np.ndarray:
    """Real rows (up to ``max_real``) followed by generated corner-case rows, float64.

    ``thresholds`` maps a feature to its split thresholds; ``categorical`` maps a
    categorical feature to its number of levels (codes 0..levels-1).
    """
    rng = np.random.default_rng(seed)
    base = _real_rows(real, n_features, max_real, rng)
    seeds = base if base.shape[0] else np.zeros((1, n_features))
    parts = [base, np.full((1, n_features), np.nan), np.zeros((1, n_features))]
    for fraction in (0.1, 0.5, 0.9):
        rows = seeds[rng.integers(0, seeds.shape[0], 64)].copy()
        rows[rng.random(rows.shape) < fraction] = np.nan
        parts.append(rows)
    for value in _EXTREMES:
        parts.append(np.full((1, n_features), value))
        parts.append(_with_column_values(seeds, rng, {j: [value] for j in range(n_features)}))
    edges = {j: _edges(t) for j, t in (thresholds or {}).items() if 0 <= j < n_features}
    if edges:
        parts.append(_with_column_values(seeds, rng, edges))
    codes = {j: _category_codes(levels) for j, levels in (categorical or {}).items()
             if 0 <= j < n_features}  # fmt: skip
    if codes:
        parts.append(_with_column_values(seeds, rng, codes))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float64)


def check_parity(
    candidate: RowScorer, reference: RowScorer, rows: np.ndarray, *, tolerance: float = TOLERANCE,
    relative: bool = False, floor: float = 1.0,
) -> ParityReport:
    """The largest difference between two scorers' outputs over ``rows``; with
    ``relative``, divided by the reference's amount, at least ``floor`` (give the model's
    base score: float32 rounding scales with the terms summed, so a prediction near zero
    from large terms carries their rounding)."""
    got = candidate.predict(rows)
    want = reference.predict(rows)
    diff = np.abs(got - want)
    if relative:
        diff = diff / np.maximum(max(1.0, abs(floor)), np.abs(np.nan_to_num(want)))
    bad = np.isnan(got) != np.isnan(want)
    diff = np.where(bad, np.inf, np.nan_to_num(diff, nan=0.0))
    worst = int(np.argmax(diff)) if diff.size else -1
    return ParityReport(int(rows.shape[0]), float(diff.max()) if diff.size else 0.0, worst,
                        tolerance, relative)  # fmt: skip


def _real_rows(
    real: np.ndarray | None, n_features: int, cap: int, rng: np.random.Generator
) -> np.ndarray:
    if real is None or real.size == 0:
        return np.empty((0, n_features))
    rows = np.asarray(real, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ValueError(f"parity rows have shape {rows.shape}; the model takes {n_features}")
    if rows.shape[0] > cap:
        rows = rows[np.sort(rng.choice(rows.shape[0], cap, replace=False))]
    return rows


def _edges(thresholds: np.ndarray) -> np.ndarray:
    """Each float32 threshold and its two float32 neighbours, as float64."""
    t = np.asarray(thresholds, dtype=np.float32)
    t = t[np.isfinite(t)]
    below = np.nextafter(t, np.float32(-np.inf))
    above = np.nextafter(t, np.float32(np.inf))
    return np.unique(np.concatenate([t, below, above])).astype(np.float64)


def _category_codes(levels: int) -> np.ndarray:
    seen = np.arange(max(levels, 0), dtype=np.float64)
    unseen = np.array([-1.0, -0.5, levels, levels + 1, levels + 37, 63, 64, 65, 1000, 2.0**24,
                       1e9, 0.5, levels - 0.5])  # fmt: skip
    return np.unique(np.concatenate([seen, unseen]))


def _with_column_values(
    seeds: np.ndarray, rng: np.random.Generator, values: Mapping[int, Any]
) -> np.ndarray:
    """For each (feature, value): a random seed row with that feature set to that value."""
    pairs = [(j, v) for j, vs in values.items() for v in np.asarray(vs, dtype=np.float64)]
    rows = seeds[rng.integers(0, seeds.shape[0], len(pairs))].copy()
    for i, (j, v) in enumerate(pairs):
        rows[i, j] = v
    return rows
