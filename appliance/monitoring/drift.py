"""Drift of one monitored window against a model version's reference (pure numpy).

Numbers are compared as the model sees them (encoded by the version's own feature
pipeline: clipped, logged, binned, imputed), so the comparison means the same for every
version, old or new:

* ``psi``: population stability index on the reference's decile bins (CSI per
  category for categorical features), shares floored at 1e-4;
* ``js``: Jensen-Shannon divergence on the same bins, base 2 (0 = same, 1 = disjoint);
* ``ks`` and ``ks_p``: the largest gap between the reference CDF (known at up to 101
  points) and the window's, with Smirnov's p-value for the reference's and window's
  row counts; with a format-1 reference the gap is taken at the decile edges only
  (``approximate`` in the detail);
* ``wasserstein``: the area between the two CDFs, in the feature's (encoded) units,
  the reference CDF taken as a step function between its points; and the same divided
  by the reference's standard deviation in the detail (format 2 only);
* ``missing_change``: the window's missing rate before imputation minus training's
  (numbers: where the reference has it; categories: always);
* ``unseen_share``: the share of values outside the training levels, above training's
  own ``(other)`` share, with the commonest such values in the detail.

A window with fewer than ``min_rows`` rows is measured but not judged: no band, so no
alert. Nothing here divides by a count that can be zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.monitoring.bands import Level, worst
from appliance.monitoring.config import MonitoringConfig
from appliance.monitoring.reference import CategoricalReference, NumericReference
from appliance.monitoring.samples import ks_p_value, psi_from_counts

__all__ = [
    "SCORE",
    "FeatureDrift",
    "MetricValue",
    "categorical_drift",
    "jensen_shannon",
    "numeric_drift",
    "wasserstein_to_cdf",
]

SCORE = "(score)"
"""The name the score's drift is stored under."""


@dataclass(frozen=True)
class MetricValue:
    metric: str
    value: float | None
    level: Level | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    rows: int
    metrics: tuple[MetricValue, ...]
    note: str = ""

    @property
    def level(self) -> Level | None:
        return worst([m.level for m in self.metrics])

    def metric(self, name: str) -> MetricValue | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def value(self, name: str) -> float | None:
        found = self.metric(name)
        return found.value if found is not None else None


def jensen_shannon(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Jensen-Shannon divergence (base 2) of two histograms over the same bins."""
    p = np.asarray(expected, dtype=np.float64)
    q = np.asarray(actual, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def part(x: NDArray[np.float64]) -> float:
        hit = x > 0
        return float(np.sum(x[hit] * np.log2(x[hit] / m[hit])))

    return max(0.0, min(1.0, (part(p) + part(q)) / 2))


def wasserstein_to_cdf(
    points: NDArray[np.float64], cdf: NDArray[np.float64], current_sorted: NDArray[np.float64]
) -> float:
    """Area between a reference CDF (``cdf`` at ``points``, a step function in between)
    and the empirical CDF of a sorted sample."""
    grid = np.union1d(points, current_sorted)
    if grid.size < 2:
        return 0.0
    at = np.searchsorted(points, grid, side="right") - 1
    f_ref = np.where(at >= 0, cdf[np.clip(at, 0, None)], 0.0)
    f_cur = np.searchsorted(current_sorted, grid, side="right") / current_sorted.size
    return float(np.sum(np.abs(f_ref - f_cur)[:-1] * np.diff(grid)))


def numeric_drift(
    ref: NumericReference,
    values: NDArray[np.float64],
    config: MonitoringConfig,
    *,
    raw_missing: float | None = None,
    kind: str = "numeric",
) -> FeatureDrift:
    """Drift of one numeric feature (or the score): ``values`` as the model saw them."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return FeatureDrift(ref.name, kind, 0, (), "no values in the window")
    judged = n >= config.min_rows
    counts = np.bincount(np.searchsorted(ref.edges, x, side="right"), minlength=ref.edges.size + 1)
    expected = ref.frequencies
    metrics = [
        _judged("psi", psi_from_counts(expected, counts), config, judged,
                {"window_shares": [float(c) for c in counts / n]}),
        MetricValue("js", jensen_shannon(expected, counts.astype(np.float64))),
        *_ks(ref, x),
    ]
    if ref.points is not None and ref.cdf is not None:
        distance = wasserstein_to_cdf(ref.points, ref.cdf, x)
        scaled = distance / ref.std if ref.std else None
        metrics.append(MetricValue("wasserstein", distance, None, {"per_std": scaled}))
    if raw_missing is not None:
        if ref.raw_missing is not None:
            change = raw_missing - ref.raw_missing
            detail = {"window": raw_missing, "reference": ref.raw_missing}
            metrics.append(
                _judged("missing_change", change, config, judged, detail, magnitude=True)
            )
        else:
            metrics.append(MetricValue("missing_change", None, None, {
                "window": raw_missing,
                "why": "this version's reference has no missing rate before imputation",
            }))  # fmt: skip
    note = "" if judged else f"{n} rows, fewer than min_rows {config.min_rows}: not judged"
    return FeatureDrift(ref.name, kind, n, tuple(metrics), note)


def categorical_drift(
    ref: CategoricalReference,
    codes: NDArray[np.float64],
    config: MonitoringConfig,
    *,
    unseen: Counter[str] | None = None,
) -> FeatureDrift:
    """Drift of one categorical feature; ``codes`` are the encoder's (levels, missing,
    other), ``unseen`` counts the raw values that fell into ``(other)``."""
    c = np.asarray(codes, dtype=np.float64)
    c = c[np.isfinite(c)].astype(np.int64)
    n = int(c.size)
    if n == 0:
        return FeatureDrift(ref.name, "categorical", 0, (), "no values in the window")
    judged = n >= config.min_rows
    size = len(ref.categories)
    counts = np.bincount(np.clip(c, 0, size - 1), minlength=size).astype(np.float64)
    shares = counts / n
    index = {name: i for i, name in enumerate(ref.categories)}
    missing_now = float(shares[index["(missing)"]]) if "(missing)" in index else 0.0
    other_now = float(shares[index["(other)"]]) if "(other)" in index else 0.0
    top = (unseen or Counter()).most_common(10)
    metrics = (
        _judged("psi", psi_from_counts(ref.frequencies, counts), config, judged,
                {"categories": _category_table(ref, shares)}),
        MetricValue("js", jensen_shannon(ref.frequencies, counts)),
        _judged("missing_change", missing_now - ref.missing, config, judged,
                {"window": missing_now, "reference": ref.missing}, magnitude=True),
        _judged("unseen_share", max(0.0, other_now - ref.other), config, judged,
                {"window": other_now, "reference": ref.other,
                 "values": [[v, k] for v, k in top]}),
    )  # fmt: skip
    note = "" if judged else f"{n} rows, fewer than min_rows {config.min_rows}: not judged"
    return FeatureDrift(ref.name, "categorical", n, metrics, note)


def _judged(
    metric: str,
    value: float,
    config: MonitoringConfig,
    judged: bool,
    detail: Mapping[str, Any] | None = None,
    *,
    magnitude: bool = False,
) -> MetricValue:
    band = config.band(metric)
    level = band.level(abs(value) if magnitude else value) if band and judged else None
    return MetricValue(metric, float(value), level, dict(detail or {}))


def _ks(ref: NumericReference, x: NDArray[np.float64]) -> list[MetricValue]:
    n = x.size
    if ref.points is not None and ref.cdf is not None:
        f_cur = np.searchsorted(x, ref.points, side="right") / n
        d = float(np.max(np.abs(ref.cdf - f_cur)))
        detail: dict[str, Any] = {}
    else:  # format 1: the share below each decile edge
        below_ref = np.cumsum(ref.frequencies)[:-1]
        below_cur = np.searchsorted(x, ref.edges, side="left") / n
        d = float(np.max(np.abs(below_ref - below_cur))) if ref.edges.size else 0.0
        detail = {"approximate": True}
    p = ks_p_value(d, max(ref.rows, 1), n) if ref.rows > 0 else None
    return [MetricValue("ks", d, None, detail), MetricValue("ks_p", p)]


def _category_table(ref: CategoricalReference, shares: NDArray[np.float64]) -> list[list[Any]]:
    rows = zip(ref.categories, ref.frequencies, shares, strict=True)
    return [[name, float(e), float(a)] for name, e, a in rows]
