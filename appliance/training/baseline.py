"""The baselines: L2-regularised logistic regression (classification) and ridge
regression (regression) on the same features.

Categorical codes are one-hot encoded and numbers standardised with training
statistics; the fit is Newton's method (iteratively reweighted least squares), which
converges in a handful of steps on scorecard-sized problems and is deterministic.
Written here in numpy so the runtime needs no scikit-learn; the tests check it
against scikit-learn's ``LogisticRegression``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LogisticBaseline", "RidgeBaseline"]


@dataclass(frozen=True)
class LogisticBaseline:
    types: tuple[str, ...]
    n_levels: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        types: Sequence[str],
        n_levels: Sequence[int],
        *,
        l2: float = 1.0,
        max_iter: int = 50,
        tol: float = 1e-8,
    ) -> LogisticBaseline:
        """``types`` is ``q``/``c`` per column; ``n_levels`` the number of codes of each."""
        z, mean, scale = _standardised(_one_hot(x, types, n_levels))
        w = np.zeros(z.shape[1] + 1)
        a = np.hstack([np.ones((z.shape[0], 1)), z])
        penalty = np.full(w.size, l2)
        penalty[0] = 0.0  # the intercept is not shrunk
        for _ in range(max_iter):
            p = _sigmoid(a @ w)
            gradient = a.T @ (p - y) + penalty * w
            hessian = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty)
            step = np.linalg.solve(hessian + 1e-10 * np.eye(w.size), gradient)
            w -= step
            if np.max(np.abs(step)) < tol:
                break
        return cls(tuple(types), tuple(n_levels), mean, scale, w[1:], float(w[0]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (_one_hot(x, self.types, self.n_levels) - self.mean) / self.scale
        return np.asarray(_sigmoid(z @ self.coef + self.intercept))


def _standardised(design: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The design with every column at mean 0 and standard deviation 1 (constant
    columns left unscaled), and the means and scales that did it."""
    mean = design.mean(axis=0)
    scale = design.std(axis=0)
    scale[scale == 0] = 1.0
    return (design - mean) / scale, mean, scale


def _one_hot(x: np.ndarray, types: Sequence[str], n_levels: Sequence[int]) -> np.ndarray:
    blocks = []
    for j, (kind, levels) in enumerate(zip(types, n_levels, strict=True)):
        column = np.asarray(x[:, j], dtype=np.float64)
        if kind == "c":
            codes = np.clip(np.nan_to_num(column, nan=levels - 1), 0, levels - 1).astype(int)
            blocks.append(np.eye(levels)[codes][:, 1:])  # drop one level: no collinearity
        else:
            blocks.append(np.nan_to_num(column)[:, None])
    return np.hstack(blocks) if blocks else np.empty((x.shape[0], 0))


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(t, -35, 35))))


@dataclass(frozen=True)
class RidgeBaseline:
    """Ridge regression on the same one-hot, standardised design; closed form."""

    types: tuple[str, ...]
    n_levels: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, types: Sequence[str], n_levels: Sequence[int],
        *, l2: float = 1.0,
    ) -> RidgeBaseline:  # fmt: skip
        z, mean, scale = _standardised(_one_hot(x, types, n_levels))
        intercept = float(y.mean())  # centred design: the intercept is the mean, unshrunk
        gram = z.T @ z + l2 * np.eye(z.shape[1])
        coef = np.linalg.solve(gram, z.T @ (y - intercept)) if z.shape[1] else np.empty(0)
        return cls(tuple(types), tuple(n_levels), mean, scale, coef, intercept)

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (_one_hot(x, self.types, self.n_levels) - self.mean) / self.scale
        return np.asarray(z @ self.coef + self.intercept)
