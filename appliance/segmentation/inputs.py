"""The segmentation's input matrix: the use case's built features for its population rows.

Features come from the use case's own ``FeaturePipeline`` (point-in-time, exactly as the
models see them); of each chosen feature the segmentation keeps the pipeline's fitted
clip/log/bin transform but not its mean imputation, so that missing values stay missing
here and are imputed with the median (``appliance.segmentation.scaling``). Every check
against the data happens here or in scaling, before any k-means is fitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from appliance.errors import SchemaError
from appliance.features.builders import RawColumn
from appliance.features.columns import as_days, as_text
from appliance.features.pipeline import FeaturePipeline
from appliance.features.sources import FeatureSources
from appliance.features.transforms import NumericEncoder
from appliance.segmentation.spec import SegmentationSpec
from appliance.usecase.checks import check_columns
from appliance.usecase.spec import UseCaseSpec

__all__ = ["FeatureTransform", "Inputs", "build_inputs", "select_features"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FeatureTransform:
    """One feature's fitted clip bounds, log and bin edges (from the feature pipeline)."""

    name: str
    clip: tuple[float, float] | None = None
    log: bool = False
    bin_edges: tuple[float, ...] | None = None

    @classmethod
    def of(cls, encoder: NumericEncoder) -> FeatureTransform:
        return cls(encoder.name, encoder.clip, encoder.log, encoder.bin_edges)

    def apply(self, values: Any) -> np.ndarray:
        """Built values -> transformed values; missing (and non-finite) stay NaN."""
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"feature {self.name!r}: values must be numbers ({exc})") from exc
        encoder = NumericEncoder(self.name, float("nan"), self.clip, self.log, self.bin_edges)
        return encoder.apply(x)


@dataclass(frozen=True)
class Inputs:
    """The population rows and their chosen features, ready to scale."""

    table: pa.Table
    names: tuple[str, ...]
    raw: np.ndarray
    """(rows, features) built values, NaN where missing: what the report profiles."""
    values: np.ndarray
    """(rows, features) after each feature's transform, NaN where missing: what is fitted."""
    transforms: tuple[FeatureTransform, ...]
    entities: np.ndarray
    """Each row's entity key as text (None where missing)."""
    dates: np.ndarray | None
    """Each row's decision date (datetime64[D]), None without ``population.time``."""

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])


def build_inputs(
    spec: UseCaseSpec, seg: SegmentationSpec, sources: FeatureSources, progress: Progress
) -> Inputs:
    """Read the population, build its features with the pipeline and keep the chosen ones."""
    p = spec.population
    progress(f"reading {p.dataset}")
    table = sources.table(p.dataset)
    check_columns(spec, table, sources)
    if table.num_rows == 0:
        raise SchemaError(f"{spec.origin}: dataset {p.dataset!r} has no rows to segment")
    progress(f"building features for {table.num_rows:,} population rows")
    pipeline, _, raw = FeaturePipeline.fit(spec, table, sources, np.arange(table.num_rows))
    chosen = select_features(spec, seg, pipeline, raw)
    transforms = tuple(FeatureTransform.of(encoder) for encoder, _ in chosen)
    built = np.column_stack([np.asarray(c.values, dtype=np.float64) for _, c in chosen])
    values = np.column_stack([t.apply(built[:, j]) for j, t in enumerate(transforms)])
    for j, name in enumerate(seg.features):
        if not np.isfinite(values[:, j]).any():
            raise SchemaError(
                f"{spec.origin}: segmentation.features: {name!r} is missing on every one of "
                f"the {table.num_rows:,} population rows: there is nothing to segment on"
            )
    entities = as_text(table.column(p.entity or p.id))
    dates = as_days(table.column(p.time)) if p.time else None
    return Inputs(table, seg.features, built, values, transforms, entities, dates)


def select_features(
    spec: UseCaseSpec,
    seg: SegmentationSpec,
    pipeline: FeaturePipeline,
    raw: Sequence[RawColumn],
) -> list[tuple[NumericEncoder, RawColumn]]:
    """The chosen features' encoders and raw columns; refuses unknown and categorical ones."""
    encoders = {e.name: e for e in pipeline.encoders}
    columns = {c.name: c for c in raw}
    numeric = [e.name for e in pipeline.encoders if isinstance(e, NumericEncoder)]
    unknown = [n for n in seg.features if n not in encoders]
    if unknown:
        raise SchemaError(
            f"{spec.origin}: segmentation.features: {', '.join(map(repr, unknown))} "
            f"{'is not a feature' if len(unknown) == 1 else 'are not features'} of use case "
            f"{spec.name!r}; its numeric features are: {', '.join(numeric) or 'none'}"
        )
    out: list[tuple[NumericEncoder, RawColumn]] = []
    for name in seg.features:
        encoder = encoders[name]
        if not isinstance(encoder, NumericEncoder):
            levels = ", ".join(encoder.levels[:6]) + (", ..." if len(encoder.levels) > 6 else "")
            raise SchemaError(
                f"{spec.origin}: segmentation.features: {name!r} is categorical ({levels}); "
                "k-means measures distances between numbers and is not given categories "
                "(their one-hot codes would dominate the distances): leave it out"
            )
        out.append((encoder, columns[name]))
    return out
