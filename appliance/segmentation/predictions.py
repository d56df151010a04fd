"""Production models' predictions on the population rows, for the per-segment profile.

The use case's own models (and any the ``[segmentation]`` table names in ``models``)
are loaded as they serve (``appliance.scoring.load_scorer``: hash-checked, compiled
where possible) and score every population row with their own feature pipeline. A
model without a production version, or one that cannot score these rows, is left
out with a note saying why; the segmentation itself never depends on one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from appliance.errors import ApplianceError, NotFound
from appliance.features.sources import FeatureSources
from appliance.home import DataHome
from appliance.segmentation.profile import ModelColumn
from appliance.segmentation.spec import SegmentationSpec
from appliance.usecase.spec import UseCaseSpec

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["model_kind", "production_columns"]

Progress = Callable[[str], None]


def production_columns(
    home: DataHome,
    db: Database,
    spec: UseCaseSpec,
    seg: SegmentationSpec,
    table: pa.Table,
    sources: FeatureSources,
    progress: Progress,
) -> tuple[list[ModelColumn], list[str]]:
    """Each production model's predictions on ``table``, and notes on those left out."""
    from appliance.scoring import load_scorer

    own = [r[0] for r in db.execute(
        "SELECT name FROM models WHERE usecase = ? ORDER BY name", [spec.name]
    )]  # fmt: skip
    names = list(dict.fromkeys([spec.model_name, *own, *seg.models]))
    columns: list[ModelColumn] = []
    notes: list[str] = []
    for name in names:
        try:
            loaded = load_scorer(home, db, name, "production")
        except NotFound:
            notes.append(f"Model `{name}` has no production version: its column is left out.")
            continue
        except ApplianceError as exc:
            notes.append(f"Model `{name}` could not be loaded ({exc}): its column is left out.")
            continue
        mv = loaded.version
        progress(f"scoring the population with {name} v{mv.version} for the profile")
        try:
            x = loaded.pipeline.transform(table, sources)
            values = np.asarray(loaded.scorer.predict(x, threads=2), dtype=np.float64)
        except (ApplianceError, ValueError, KeyError) as exc:
            notes.append(f"Model `{name}` v{mv.version} could not score the population rows "
                         f"({exc}): its column is left out.")  # fmt: skip
            continue
        target = str((mv.spec.get("population") or {}).get("target") or "value")
        columns.append(ModelColumn(name, mv.version, model_kind(mv.params, mv.spec), target,
                                   values))  # fmt: skip
    return columns, notes


def model_kind(params: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """``regression`` for an amount (a regression objective or task), else ``classification``."""
    objective = str(params.get("objective") or "")
    if objective.startswith("reg:") or spec.get("task") == "regression":
        return "regression"
    return "classification"
