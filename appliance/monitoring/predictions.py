"""Reading the prediction log for one model and window, grouped by model version.

Every logged answer counts (production, challenger and shadow alike): each version is
monitored on the predictions it made, against its own reference. Features come back as
logged (raw, before encoding) and are encoded here with the version's own fitted
pipeline, so they compare with the reference exactly as the model saw them. The logged
JSON is decoded only when asked for (drift reads the features, fairness the inputs),
each column at once with one call of the JSON parser.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from appliance.features.transforms import CategoricalEncoder
from appliance.monitoring.windows import Window

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.features.pipeline import FeaturePipeline

__all__ = ["Encoded", "Logged", "encode", "load_window", "prediction_span"]

_CHUNK = 5_000


@dataclass(frozen=True)
class Logged:
    """One version's logged predictions in one window, in log order."""

    model: str
    version: int
    window: Window
    request_ids: list[str]
    roles: list[str]
    at: list[str]
    entity_ids: list[str | None]
    application_ids: list[str | None]
    input_json: list[str | None] = field(repr=False)
    features_json: list[str | None] = field(repr=False)
    probability: NDArray[np.float64]
    """NaN where the log holds none."""

    @property
    def rows(self) -> int:
        return len(self.request_ids)

    @cached_property
    def inputs(self) -> list[dict[str, Any]]:
        """Each row's logged input record ({} where it is not a JSON object)."""
        return _json_objects(self.input_json)

    @cached_property
    def features(self) -> dict[str, list[Any]]:
        """Feature name -> the logged raw value per row (None where missing)."""
        rows = _json_objects(self.features_json)
        names = dict.fromkeys(name for row in rows for name in row)
        return {name: [row.get(name) for row in rows] for name in names}


@dataclass(frozen=True)
class Encoded:
    """A window's features as the model saw them, with what encoding hides."""

    values: dict[str, NDArray[np.float64]]
    raw_missing: dict[str, float]
    """Share of rows whose logged value was missing, per feature."""
    unseen: dict[str, Counter[str]]
    """Per categorical feature, the logged values outside the training levels."""


def prediction_span(db: Database, model: str) -> tuple[str, str] | None:
    """The first and last ``at`` of the model's logged predictions (None: no prediction)."""
    row = db.execute("SELECT min(at), max(at) FROM predictions WHERE model = ?", [model]).fetchone()
    return (str(row[0]), str(row[1])) if row and row[0] is not None else None


def load_window(db: Database, model: str, window: Window) -> dict[int, Logged]:
    """Every logged prediction of ``model`` in ``window``, by version (empty if none)."""
    cursor = db.execute(
        "SELECT request_id, role, at, version, entity_id, application_id, input, features,"
        " probability FROM predictions WHERE model = ? AND at >= ? AND at < ? ORDER BY id",
        [model, window.start_iso, window.end_iso],
    )
    parts: dict[int, dict[str, list[Any]]] = {}
    while True:
        chunk = cursor.fetchmany(_CHUNK)
        if not chunk:
            break
        for request_id, role, at, version, entity, application, raw_input, raw_features, p in chunk:
            part = parts.setdefault(int(version), {k: [] for k in (
                "request_ids", "roles", "at", "entity_ids", "application_ids", "inputs",
                "features", "probability")})  # fmt: skip
            part["request_ids"].append(request_id)
            part["roles"].append(role)
            part["at"].append(at)
            part["entity_ids"].append(entity)
            part["application_ids"].append(application)
            part["inputs"].append(raw_input)
            part["features"].append(raw_features)
            part["probability"].append(np.nan if p is None else float(p))
    return {version: _logged(model, version, window, part) for version, part in parts.items()}


def _logged(model: str, version: int, window: Window, part: dict[str, list[Any]]) -> Logged:
    return Logged(
        model=model, version=version, window=window, request_ids=part["request_ids"],
        roles=part["roles"], at=part["at"], entity_ids=part["entity_ids"],
        application_ids=part["application_ids"], input_json=part["inputs"],
        features_json=part["features"],
        probability=np.asarray(part["probability"], dtype=np.float64),
    )  # fmt: skip


def _json_objects(texts: Sequence[str | None]) -> list[dict[str, Any]]:
    """Decode a column of JSON texts in one parser call (row by row if one is broken);
    anything but an object becomes {}."""
    try:
        values = json.loads("[" + ",".join(t or "{}" for t in texts) + "]")
    except json.JSONDecodeError:
        values = [_json_object(t) for t in texts]
    if len(values) != len(texts):  # "1, 2" in one row would shift the rest
        values = [_json_object(t) for t in texts]
    return [v if isinstance(v, dict) else {} for v in values]


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def encode(pipeline: FeaturePipeline, features: Mapping[str, list[Any]], rows: int) -> Encoded:
    """Encode logged raw features with ``pipeline``; a feature the log lacks counts as
    missing in every row."""
    values: dict[str, NDArray[np.float64]] = {}
    missing: dict[str, float] = {}
    unseen: dict[str, Counter[str]] = {}
    for encoder in pipeline.encoders:
        raw = features.get(encoder.name, [None] * rows)
        if isinstance(encoder, CategoricalEncoder):
            text = np.asarray([None if v is None or v == "" else str(v) for v in raw], dtype=object)
            is_missing = np.asarray([v is None for v in text], dtype=bool)
            known = set(encoder.levels)
            unseen[encoder.name] = Counter(v for v in text if v is not None and v not in known)
            values[encoder.name] = _as_model_sees(encoder.apply(text)) if rows else np.empty(0)
        else:
            numbers = np.asarray([_number(v) for v in raw], dtype=np.float64)
            is_missing = ~np.isfinite(numbers)
            values[encoder.name] = _as_model_sees(encoder.apply(numbers)) if rows else np.empty(0)
        missing[encoder.name] = float(is_missing.mean()) if rows else 0.0
    return Encoded(values, missing, unseen)


def _as_model_sees(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Through float32, as the model's input matrix (and the reference) holds them."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan
