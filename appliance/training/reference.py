"""Reference statistics stored with a model, against which monitoring measures drift.

Per feature, bins and frequencies on the training rows (deciles for numbers, levels
for categories); for the score, deciles on the test rows. PSI and CSI compare later
populations with exactly these bins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.features.pipeline import FeaturePipeline
from appliance.features.transforms import CategoricalEncoder

__all__ = ["reference_statistics"]


def _numeric(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"type": "numeric", "edges": [], "frequencies": [], "missing": 1.0}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    return {
        "type": "numeric",
        "edges": [float(e) for e in edges],
        "frequencies": [float(c) for c in counts / finite.size],
        "missing": float(1 - finite.size / max(values.size, 1)),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
    }


def reference_statistics(
    pipeline: FeaturePipeline, x_train: np.ndarray, p_test: np.ndarray
) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for j, encoder in enumerate(pipeline.encoders):
        column = x_train[:, j].astype(np.float64)
        if isinstance(encoder, CategoricalEncoder):
            counts = np.bincount(column.astype(int), minlength=len(encoder.categories))
            features[encoder.name] = {
                "type": "categorical",
                "categories": list(encoder.categories),
                "frequencies": [float(c) for c in counts / max(column.size, 1)],
            }
        else:
            features[encoder.name] = _numeric(column)
    return {"rows": int(x_train.shape[0]), "features": features, "score": _numeric(p_test)}
