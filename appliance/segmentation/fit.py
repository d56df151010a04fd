"""Fitting k-means for one k or a range of k, choosing k by silhouette on a seeded sample.

scikit-learn's ``KMeans`` (k-means++, a few seeded starts) fits up to
``MINIBATCH_ABOVE`` rows; above that ``MiniBatchKMeans`` keeps memory and time bounded.
Threads are fixed, so the same matrix and seed give the same centroids. Segments are
renumbered by size, largest first, so segment 0 is always the biggest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.errors import ApplianceError

__all__ = ["MINIBATCH_ABOVE", "Fitted", "fit_segments", "silhouette_sample"]

MINIBATCH_ABOVE = 200_000
_THREADS = 1
_N_INIT = 4

Progress = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class Fitted:
    """The chosen k's centroids (largest segment first) and what choosing it measured."""

    k: int
    centroids: np.ndarray
    sizes: np.ndarray
    silhouette: dict[int, float | None]
    """Mean silhouette on the sample per k tried (None where it is undefined)."""
    inertia: float
    algorithm: str
    estimator: Any
    """The scikit-learn estimator of the chosen k (never stored)."""
    order: np.ndarray
    """``order[i]`` is the estimator's label of our segment ``i``."""

    def relabel(self, estimator_labels: np.ndarray) -> np.ndarray:
        """The estimator's labels in our numbering (largest segment first)."""
        ours = np.empty(self.k, dtype=np.int64)
        ours[self.order] = np.arange(self.k)
        return ours[np.asarray(estimator_labels, dtype=np.int64)]


def silhouette_sample(rows: int, size: int, seed: int) -> np.ndarray:
    """Row indices the silhouette is measured on: all rows, or a seeded sample of ``size``."""
    if rows <= size:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def fit_segments(
    x: np.ndarray,
    ks: Sequence[int],
    *,
    seed: int,
    sample: int,
    progress: Progress = lambda _line: None,
    minibatch_above: int = MINIBATCH_ABOVE,
) -> Fitted:
    """Fit each k in ``ks`` on the scaled matrix ``x``; keep the best by silhouette."""
    try:
        from sklearn.metrics import silhouette_score
        from threadpoolctl import threadpool_limits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a core dependency
        raise ApplianceError(
            "training a segmentation needs scikit-learn: pip install scikit-learn"
        ) from exc

    minibatch = x.shape[0] > minibatch_above
    idx = silhouette_sample(x.shape[0], sample, seed)
    fits: dict[int, Any] = {}
    scores: dict[int, float | None] = {}
    with threadpool_limits(limits=_THREADS):
        for k in ks:
            estimator = _estimator(k, seed, minibatch, x.shape[0]).fit(x)
            labels = np.asarray(estimator.labels_)[idx]
            score = float(silhouette_score(x[idx], labels)) if np.unique(labels).size > 1 else None
            fits[k], scores[k] = estimator, score
            shown = f"{score:.3f}" if score is not None else "undefined"
            progress(f"k = {k}: silhouette {shown} on {idx.size:,} rows")
    best = max(ks, key=lambda k: (_finite(scores[k]), -k)) if len(ks) > 1 else ks[0]
    estimator = fits[best]
    counts = np.bincount(np.asarray(estimator.labels_), minlength=best)
    order = np.argsort(-counts, kind="stable")
    return Fitted(
        k=best, centroids=np.asarray(estimator.cluster_centers_, dtype=np.float64)[order],
        sizes=counts[order], silhouette=scores, inertia=float(estimator.inertia_),
        algorithm="minibatch" if minibatch else "kmeans", estimator=estimator, order=order,
    )  # fmt: skip


def _estimator(k: int, seed: int, minibatch: bool, rows: int) -> Any:
    if minibatch:
        from sklearn.cluster import MiniBatchKMeans

        batch = min(rows, 8192)
        return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=batch)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, random_state=seed, n_init=_N_INIT)


def _finite(score: float | None) -> float:
    return score if score is not None and math.isfinite(score) else -math.inf
