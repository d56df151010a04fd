"""The scorer interface and the serving scorer that picks an implementation per job.

Both implementations (``NativeScorer``, ``XGBoostScorer``) take the same matrix of
model inputs, in the feature pipeline's order, with NaN for missing, and return the
same probabilities. ``ServingScorer`` scores single rows through the compiled library
when there is one, and batches through whichever implementation was measured faster
for this model right after it was compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Scorer", "ServingScorer"]


class Scorer(Protocol):
    kind: str
    n_features: int

    def predict_one(self, row: np.ndarray, *, margin: bool = False) -> float:
        """One row -> probability (or margin)."""
        ...

    def predict(self, rows: np.ndarray, *, threads: int = 1, margin: bool = False) -> np.ndarray:
        """A matrix of rows -> probabilities (or margins), float64."""
        ...


@dataclass(frozen=True)
class ServingScorer:
    """Single rows and batches each through the implementation chosen for them.

    ``reason`` says why the reference serves single rows, when it does.
    """

    single: Scorer
    batch: Scorer
    reason: str = ""

    def __post_init__(self) -> None:
        # single rows call the chosen implementation itself, not through a method of
        # this one: a Python frame is 0.2 us, an eighth of a 100-tree row
        object.__setattr__(self, "predict_one", self.single.predict_one)

    @property
    def kind(self) -> str:
        return self.single.kind

    @property
    def n_features(self) -> int:
        return self.single.n_features

    def predict_one(self, row: np.ndarray, *, margin: bool = False) -> float:
        return self.single.predict_one(row, margin=margin)  # replaced per instance, above

    def predict(self, rows: np.ndarray, *, threads: int = 1, margin: bool = False) -> np.ndarray:
        return self.batch.predict(rows, threads=threads, margin=margin)
