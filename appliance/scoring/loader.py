"""Load what serves a registered version: its feature pipeline and its scorer.

The scorer is the compiled library when the version's compile record says it matches
XGBoost and the library's bytes still hash to the recorded value; in every other case
XGBoost itself serves and ``scorer.reason`` says why, so a box without a compiler, or
with a damaged library, keeps scoring correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.features.pipeline import FeaturePipeline
from appliance.home import DataHome
from appliance.registry import load_booster, resolve
from appliance.registry.records import ModelVersion

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["LoadedModel", "load_scorer"]


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    pipeline: FeaturePipeline
    scorer: Any
    """A ``compiled_models.scorer.ServingScorer``."""
    booster: Any
    """The verified XGBoost booster (reason codes, and the reference)."""


def load_scorer(
    home: DataHome, db: Database, model: str, ref: str = "production"
) -> LoadedModel:
    """The pipeline and scorer for ``model`` at ``ref`` (number, alias or ``latest``)."""
    from compiled_models.native import LibraryRejected, NativeScorer
    from compiled_models.reference import XGBoostScorer
    from compiled_models.scorer import ServingScorer

    mv = resolve(db, model, ref)
    folder = home.inside(mv.booster_path).parent
    pipeline = FeaturePipeline.load(folder / "feature_pipeline.json")
    reference = XGBoostScorer(load_booster(home, mv))  # hash checked; never a pickle
    record = mv.compile or {}
    if record.get("status") != "ok":
        why = record.get("reason") or "the version has not been compiled"
        return _fallback(mv, pipeline, reference, why)
    try:
        native = NativeScorer.load(home.inside(record["library"]), record["library_sha256"])
    except (LibraryRejected, OSError, KeyError) as exc:
        why = f"compiled library not loaded ({exc}); XGBoost serves"
        return _fallback(mv, pipeline, reference, why)
    if native.n_features != reference.n_features:
        why = (f"compiled library takes {native.n_features} features, the booster "
               f"{reference.n_features}; XGBoost serves")  # fmt: skip
        return _fallback(mv, pipeline, reference, why)
    batch = native if (record.get("batch") or {}).get("choice") == "native" else reference
    return LoadedModel(mv, pipeline, ServingScorer(native, batch), reference.booster)


def _fallback(mv: ModelVersion, pipeline: FeaturePipeline, reference: Any, why: str) -> LoadedModel:
    from compiled_models.scorer import ServingScorer

    return LoadedModel(mv, pipeline, ServingScorer(reference, reference, why), reference.booster)
