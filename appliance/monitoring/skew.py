"""Training-serving skew: the features a model was served against the same rows'
features rebuilt offline, by the version's pipeline over the lake, as training builds
them.

Only predictions whose application id is a row of the population dataset in the lake
can be checked (the batch files and applications ingested later). Per feature,
``skew_mismatch`` is the share of those rows whose served value differs from the
offline one (numbers beyond 1e-9 relative, text exactly; missing equals missing),
judged by the ``skew_mismatch`` band, and ``psi`` compares the two distributions. A
skew means the serving path computes a feature differently from training: a bug or a
source that changed under the model, not a population shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from appliance.features.columns import take_by_key
from appliance.features.pipeline import FeaturePipeline
from appliance.features.sources import FeatureSources
from appliance.features.transforms import CategoricalEncoder
from appliance.monitoring.config import MonitoringConfig
from appliance.monitoring.drift import FeatureDrift, MetricValue
from appliance.monitoring.predictions import Logged
from appliance.monitoring.samples import compare_samples

__all__ = ["skew_drift"]

_EXAMPLES = 3


def skew_drift(
    pipeline: FeaturePipeline, logged: Logged, sources: FeatureSources, config: MonitoringConfig
) -> list[FeatureDrift]:
    """Per feature, served against offline values; empty when no row can be checked."""
    p = pipeline.spec.population
    try:
        table = sources.table(p.dataset)
    except Exception:  # no population data in the lake: nothing to check against
        return []
    ids = [a for a in logged.application_ids if a is not None]
    if not ids or p.id not in table.column_names:
        return []
    in_lake = pc.is_in(pc.cast(pa.array(ids, pa.string()), table.schema.field(p.id).type),
                       value_set=table.column(p.id)).to_pylist()  # fmt: skip
    known = set(a for a, hit in zip(ids, in_lake, strict=True) if hit)
    rows = [i for i, a in enumerate(logged.application_ids) if a in known]
    if not rows:
        return []
    wanted = pa.array([logged.application_ids[i] for i in rows], pa.string())
    offline = {c.name: c for c in pipeline.raw(take_by_key(table, p.id, wanted), sources)}
    judged = len(rows) >= config.min_rows
    band = config.band("skew_mismatch")
    out = []
    for encoder in pipeline.encoders:
        column = logged.features.get(encoder.name)
        served = [column[i] if column is not None else None for i in rows]
        theirs = offline[encoder.name].values
        categorical = isinstance(encoder, CategoricalEncoder)
        differ = _differ(served, theirs, categorical)
        share = float(differ.mean())
        examples = [[logged.application_ids[rows[i]], _show(served[i]), _show(theirs[i])]
                    for i in np.flatnonzero(differ)[:_EXAMPLES]]  # fmt: skip
        level = band.level(share) if band and judged else None
        metrics = [MetricValue("skew_mismatch", share, level, {"examples": examples})]
        if not categorical:
            ours = np.asarray([np.nan if v is None else float(v) for v in served])
            psi = compare_samples(ours, np.asarray(theirs, dtype=np.float64), p_value=False).psi
            metrics.append(MetricValue("psi", psi))
        note = "" if judged else f"{len(rows)} rows, fewer than min_rows {config.min_rows}"
        out.append(FeatureDrift(encoder.name, "skew", len(rows), tuple(metrics), note))
    return out


def _differ(served: list[Any], offline: Any, categorical: bool) -> np.ndarray:
    if categorical:
        ours = [None if v is None or v == "" else str(v) for v in served]
        theirs = [None if v is None or v == "" else str(v) for v in offline]
        return np.asarray([a != b for a, b in zip(ours, theirs, strict=True)], dtype=bool)
    a = np.asarray([np.nan if v is None else float(v) for v in served], dtype=np.float64)
    b = np.asarray(offline, dtype=np.float64)
    both_missing = ~np.isfinite(a) & ~np.isfinite(b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= 1e-9 * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    return ~(both_missing | close)


def _show(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    return value
