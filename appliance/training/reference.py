"""Reference statistics stored with a model, against which monitoring measures drift.

Per feature, on the training rows as the model sees them (encoded: clipped, logged,
binned, imputed): decile bins and their frequencies for numbers, level frequencies for
categories (with the ``(missing)`` and ``(other)`` levels); for the score, the same on
the test rows. PSI and CSI compare later populations with exactly these bins.

Format 2 (``"format": 2``) adds, for numbers and the score, the empirical CDF at up to
101 points (the distinct percentiles), from which monitoring takes the KS statistic and
the Wasserstein distance without the training rows, and the row counts; and, where the
trainer passes the raw feature columns, each feature's missing rate before imputation
(``raw_missing``). References without them (format 1) stay readable: monitoring then
approximates KS at the decile edges and leaves out what it cannot know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.features.pipeline import FeaturePipeline
from appliance.features.transforms import CategoricalEncoder

if TYPE_CHECKING:
    from appliance.features.builders import RawColumn

__all__ = ["FORMAT", "reference_statistics"]

FORMAT = 2
_CDF_POINTS = np.linspace(0.0, 1.0, 101)


def _numeric(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    finite = np.sort(values[np.isfinite(values)])
    if not finite.size:
        return {"type": "numeric", "edges": [], "frequencies": [], "missing": 1.0,
                "rows": 0, "points": [], "cdf": []}  # fmt: skip
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    points = np.unique(np.quantile(finite, _CDF_POINTS))
    cdf = np.searchsorted(finite, points, side="right") / finite.size
    return {
        "type": "numeric",
        "edges": [float(e) for e in edges],
        "frequencies": [float(c) for c in counts / finite.size],
        "missing": float(1 - finite.size / max(values.size, 1)),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "rows": int(finite.size),
        "points": [float(p) for p in points],
        "cdf": [float(c) for c in cdf],
    }


def _raw_missing(column: RawColumn, rows: np.ndarray | None) -> float:
    """Share of ``column``'s values (only those at ``rows``, if given) missing before
    imputation: NaN or infinite numbers (what the encoder imputes), empty or absent text
    (what it codes ``(missing)``); the same test monitoring applies to logged values."""
    values = column.values if rows is None else np.asarray(column.values)[rows]
    if column.kind == "numeric":
        missing = ~np.isfinite(np.asarray(values, dtype=np.float64))
    else:
        missing = np.asarray([v is None or v == "" for v in values], dtype=bool)
    return float(missing.mean()) if missing.size else 0.0


def reference_statistics(
    pipeline: FeaturePipeline,
    x_train: np.ndarray,
    p_test: np.ndarray,
    raw: Sequence[RawColumn] | None = None,
    *,
    rows: np.ndarray | None = None,
) -> dict[str, Any]:
    """The reference of a model trained on ``x_train`` (encoded) with test scores
    ``p_test``. ``raw``, the raw feature columns (before clipping and imputation), adds
    each feature's missing rate before imputation (``raw_missing``), so monitoring
    compares a window's logged missing rate with the same kind of figure: either the
    training rows' columns, or the whole population's with ``rows`` (indices or a
    boolean mask) picking the training rows."""
    if raw is not None:
        lengths = {len(c.values) for c in raw} if rows is None else set()
        if lengths and lengths != {x_train.shape[0]}:
            raise ValueError(
                f"the raw columns have {sorted(lengths)} rows and x_train {x_train.shape[0]}; "
                "pass the training rows' columns, or rows= to pick them"
            )
    missing = {c.name: _raw_missing(c, rows) for c in raw} if raw is not None else {}
    features: dict[str, Any] = {}
    for j, encoder in enumerate(pipeline.encoders):
        column = x_train[:, j].astype(np.float64)
        if isinstance(encoder, CategoricalEncoder):
            counts = np.bincount(column.astype(int), minlength=len(encoder.categories))
            features[encoder.name] = {
                "type": "categorical",
                "categories": list(encoder.categories),
                "frequencies": [float(c) for c in counts / max(column.size, 1)],
                "rows": int(column.size),
            }
        else:
            features[encoder.name] = _numeric(column)
        if encoder.name in missing:
            features[encoder.name]["raw_missing"] = missing[encoder.name]
    score = _numeric(np.asarray(p_test, dtype=np.float64))
    return {"format": FORMAT, "rows": int(x_train.shape[0]), "features": features, "score": score}
