"""A model version as monitoring needs it: its fitted pipeline, reference statistics,
decision threshold and test AUC, read once per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.features.pipeline import FeaturePipeline
from appliance.monitoring.errors import MonitoringError
from appliance.monitoring.reference import Reference

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.home import DataHome
    from appliance.registry import ModelVersion

__all__ = ["VersionCache", "Watched"]


@dataclass(frozen=True)
class Watched:
    version: ModelVersion
    pipeline: FeaturePipeline
    reference: Reference
    threshold: float | None
    """The classifier's decision threshold; None for a regression (no decision)."""
    test_auc: float | None

    @property
    def is_regression(self) -> bool:
        return self.threshold is None


@dataclass
class VersionCache:
    home: DataHome
    db: Database
    _seen: dict[tuple[str, int], Watched] = field(default_factory=dict)

    def get(self, model: str, version: int) -> Watched:
        key = (model, version)
        if key not in self._seen:
            self._seen[key] = self._load(model, version)
        return self._seen[key]

    def _load(self, model: str, number: int) -> Watched:
        from appliance.registry import get_version

        mv = get_version(self.db, model, number)
        folder = self.home.inside(mv.booster_path).parent
        try:
            pipeline = FeaturePipeline.load(folder / "feature_pipeline.json")
        except OSError as exc:
            raise MonitoringError(f"{mv.subject}: cannot read its feature pipeline "
                                  f"({exc.strerror or exc})") from exc  # fmt: skip
        test = mv.metrics.get("test") or {}
        test_rows = test.get("n")
        score_rows = int(test_rows) if test_rows else None
        reference = Reference.from_dict(mv.reference, subject=mv.subject, score_rows=score_rows)
        auc = test.get("roc_auc")
        if mv.metrics.get("task") == "regression":
            return Watched(mv, pipeline, reference, None, None)
        threshold = (mv.metrics.get("threshold") or {}).get("value")
        if not isinstance(threshold, int | float):
            raise MonitoringError(f"{mv.subject} has no decision threshold in its metrics")
        return Watched(mv, pipeline, reference, float(threshold),
                       float(auc) if isinstance(auc, int | float) else None)  # fmt: skip
