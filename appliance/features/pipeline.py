"""The feature pipeline: spec builders plus encoders fitted on the training part.

``FeaturePipeline.fit`` builds raw columns for all rows, fits encoders on the training
rows only and returns the pipeline with the encoded matrix. ``transform`` runs the same
builders and the fitted encoders on any rows: a batch file, one real-time applicant.
The pipeline saves as JSON (the spec it came from, the resolved feature list and every
fitted parameter) beside the model, so scoring never depends on today's spec file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from appliance.errors import SchemaError
from appliance.features.builders import RawColumn, build_raw, rows_of
from appliance.features.columns import is_categorical, is_date
from appliance.features.sources import FeatureSources
from appliance.features.transforms import (
    CategoricalEncoder,
    Encoder,
    encoder_from_dict,
    fit_categorical,
    fit_numeric,
)
from appliance.usecase.parse import parse_spec
from appliance.usecase.spec import (
    ColumnFeature,
    ColumnRef,
    FeatureSpec,
    RatioFeature,
    UseCaseSpec,
)

__all__ = ["FORMAT_VERSION", "FeaturePipeline", "effective_features", "target_of"]

FORMAT_VERSION = 1


def effective_features(spec: UseCaseSpec, schema: pa.Schema) -> tuple[FeatureSpec, ...]:
    """The spec's features, or with ``features = "auto"`` every usable population column.

    Auto leaves out the id, entity, time and target columns, protected attributes,
    ``exclude``, and dates (name an ``age`` builder to use one).
    """
    if not spec.auto_features:
        return spec.features
    p = spec.population
    skip = {p.id, p.entity, p.time, p.target, *spec.exclude}
    skip |= {x.column.column for x in spec.protected if x.column.table is None}
    return tuple(
        ColumnFeature(name=f.name, column=ColumnRef(None, f.name))
        for f in schema
        if f.name not in skip and not is_date(f.type)
    )


def target_of(spec: UseCaseSpec, table: pa.Table) -> np.ndarray:
    """The target as 1.0 (positive), 0.0, or NaN where it is missing; for a regression,
    the amount itself (NaN where missing)."""
    import pyarrow.compute as pc

    p = spec.population
    if p.target not in table.column_names:
        raise SchemaError(f"dataset {p.dataset!r} has no target column {p.target!r}")
    column = table.column(p.target)
    if spec.is_regression:
        return _amounts(spec, column)
    if isinstance(p.positive, str) or is_categorical(column.type):
        text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
        hit = pc.equal(text, str(p.positive).strip().lower())
        values = pc.cast(hit, pa.float64())
    else:
        values = pc.cast(pc.equal(pc.cast(column, pa.float64()), float(p.positive)), pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _amounts(spec: UseCaseSpec, column: pa.ChunkedArray) -> np.ndarray:
    """A regression target as float64; a value that is not a number is refused, named."""
    import pyarrow.compute as pc

    p = spec.population
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False),
                            dtype=np.float64)  # fmt: skip
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = column.to_pylist()
        values = np.full(len(text), np.nan)
        for row, item in enumerate(text):
            if item is None or not item.strip():
                continue
            try:
                values[row] = float(item)
            except ValueError:
                raise SchemaError(
                    f"{spec.origin}: the regression target {p.target!r} of dataset "
                    f"{p.dataset!r} must be numeric; row {row + 1} holds {item!r}"
                ) from None
    else:
        raise SchemaError(
            f"{spec.origin}: the regression target {p.target!r} of dataset {p.dataset!r} "
            f"must be numeric; it is {column.type}"
        )
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise SchemaError(
            f"{spec.origin}: the regression target {p.target!r} is infinite at row {bad[0] + 1}"
        )
    return values


@dataclass(frozen=True)
class FeaturePipeline:
    spec: UseCaseSpec
    features: tuple[FeatureSpec, ...]
    encoders: tuple[Encoder, ...]
    sources: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.encoders]

    @property
    def xgboost_types(self) -> list[str]:
        """``q`` (quantitative) or ``c`` (categorical) per column, as XGBoost wants them."""
        return ["c" if isinstance(e, CategoricalEncoder) else "q" for e in self.encoders]

    @classmethod
    def fit(
        cls, spec: UseCaseSpec, table: pa.Table, sources: FeatureSources, train: np.ndarray
    ) -> tuple[FeaturePipeline, np.ndarray, list[RawColumn]]:
        """Fit on ``train`` rows; returns the pipeline, the encoded matrix, the raw columns."""
        features = effective_features(spec, table.schema)
        if not features:
            raise SchemaError(f"{spec.origin}: no features to train on")
        raw = build_raw(rows_of(spec, table, sources), features)
        encoders = tuple(_fit(column, train) for column in raw)
        pipeline = cls(spec, features, encoders, tuple(c.source for c in raw))
        return pipeline, pipeline.encode(raw), raw

    def transform(self, table: pa.Table, sources: FeatureSources) -> np.ndarray:
        """Build and encode features for any population rows, exactly as in training."""
        return self.encode(self.raw(table, sources))

    def raw(self, table: pa.Table, sources: FeatureSources) -> list[RawColumn]:
        return build_raw(rows_of(self.spec, table, sources), self.features)

    def encode(self, raw: Sequence[RawColumn]) -> np.ndarray:
        by_name = {c.name: c for c in raw}
        matrix = np.empty((len(raw[0].values) if raw else 0, len(self.encoders)), np.float32)
        for j, encoder in enumerate(self.encoders):
            matrix[:, j] = encoder.apply(by_name[encoder.name].values)
        return matrix

    def schema(self) -> list[dict[str, Any]]:
        """Names, types, order, allowed categories and provenance of every model input."""
        out = []
        for position, (encoder, source) in enumerate(zip(self.encoders, self.sources, strict=True)):
            entry: dict[str, Any] = {
                "position": position, "name": encoder.name, "type": encoder.kind,
                "source": source,
            }  # fmt: skip
            if isinstance(encoder, CategoricalEncoder):
                entry["categories"] = list(encoder.categories)
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "spec": dict(self.spec.raw),
            "auto_columns": [e.name for e in self.encoders] if self.spec.auto_features else None,
            "encoders": [e.to_dict() for e in self.encoders],
            "sources": list(self.sources),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturePipeline:
        if data.get("format") != FORMAT_VERSION:
            raise SchemaError(f"feature pipeline format {data.get('format')!r} is not supported")
        spec = parse_spec(data["spec"], origin="the model's saved spec")
        encoders = tuple(encoder_from_dict(e) for e in data["encoders"])
        if data.get("auto_columns") is not None:
            features: tuple[FeatureSpec, ...] = tuple(
                ColumnFeature(name=n, column=ColumnRef(None, n)) for n in data["auto_columns"]
            )
        else:
            features = spec.features
        return cls(spec, features, encoders, tuple(data["sources"]))

    @classmethod
    def load(cls, path: Path) -> FeaturePipeline:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _fit(column: RawColumn, train: np.ndarray) -> Encoder:
    values = column.values[train]
    if column.kind == "categorical":
        spec = column.spec
        min_count = spec.min_count if isinstance(spec, ColumnFeature) else 1
        return fit_categorical(column.name, values, min_count=min_count)
    spec = column.spec
    if isinstance(spec, ColumnFeature):
        return fit_numeric(column.name, values, clip=spec.clip, log=spec.log, bins=spec.bins)
    if isinstance(spec, RatioFeature):
        return fit_numeric(column.name, values, clip=spec.clip, log=spec.log)
    return fit_numeric(column.name, values)
