"""The ``[segmentation]`` table of a use-case spec, parsed and checked.

The use-case parser keeps the table as it is in ``spec.raw["segmentation"]``; this
module reads it. Nothing here reads data: checks against the built features (unknown
names, categories, constant columns, too few distinct rows) happen in
``appliance.segmentation.inputs`` before any fitting. Errors name the spec file and
the key, like every other spec error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from appliance.errors import SchemaError
from appliance.usecase._reader import Reader
from appliance.usecase.spec import UseCaseSpec

__all__ = ["MAX_SEGMENTS", "SCALINGS", "Scaling", "SegmentationSpec", "parse_segmentation"]

Scaling = Literal["standard", "robust", "none"]
SCALINGS: tuple[Scaling, ...] = ("standard", "robust", "none")
MAX_SEGMENTS = 50
"""More segments than this profile nobody; a range may reach it, not pass it."""
MIN_SAMPLE = 100
_KEYS = {"features", "segments", "scaling", "sample", "seed", "models"}


@dataclass(frozen=True)
class SegmentationSpec:
    """What to segment on and how many segments; validated once."""

    features: tuple[str, ...]
    """Names of the use case's built features (as the feature pipeline names them)."""
    k_min: int
    """The smallest number of segments tried (equal to ``k_max`` for a fixed number)."""
    k_max: int
    scaling: Scaling = "standard"
    """``standard`` (mean, standard deviation), ``robust`` (median, IQR) or ``none``."""
    sample: int = 5_000
    """Rows the silhouette is computed on (a seeded sample when there are more)."""
    seed: int = 7
    models: tuple[str, ...] = ()
    """Models besides the use case's own whose production predictions the report
    profiles per segment (a premium model of a sibling use case, say)."""

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(range(self.k_min, self.k_max + 1))

    @property
    def is_range(self) -> bool:
        return self.k_max > self.k_min

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features), "segments": [self.k_min, self.k_max],
            "scaling": self.scaling, "sample": self.sample, "seed": self.seed,
            "models": list(self.models),
        }  # fmt: skip


def parse_segmentation(spec: UseCaseSpec) -> SegmentationSpec:
    """The spec's ``[segmentation]`` table; SchemaError when it is missing or wrong."""
    r = Reader(spec.origin)
    if "segmentation" not in spec.raw:
        raise SchemaError(
            f"{spec.origin}: use case {spec.name!r} declares no [segmentation] table; add one "
            'with features = [...], segments = 5 (or [3, 8]) and scaling = "standard" '
            "(docs/segmentation.md)"
        )
    raw = r.table(spec.raw["segmentation"], "segmentation")
    r.no_unknown(raw, _KEYS, "segmentation")
    features = _features(r, raw)
    k_min, k_max = _segments(r, raw)
    scaling = raw.get("scaling", "standard")
    if scaling not in SCALINGS:
        raise r.error("segmentation.scaling", f"{scaling!r} is not one of {', '.join(SCALINGS)}")
    sample = r.positive_int(raw, "sample", "segmentation", 5_000)
    if sample < MIN_SAMPLE:
        raise r.error("segmentation.sample", f"must be at least {MIN_SAMPLE} rows")
    listed = r.str_list(raw.get("models", []), "segmentation.models")
    models = tuple(r.name(m, "segmentation.models") for m in listed)
    return SegmentationSpec(
        features=features, k_min=k_min, k_max=k_max, scaling=scaling, sample=sample,
        seed=r.positive_int(raw, "seed", "segmentation", 7, allow_zero=True), models=models,
    )  # fmt: skip


def _features(r: Reader, raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = r.str_list(raw.get("features"), "segmentation.features")
    if not names:
        raise r.error("segmentation.features", "name at least one built feature to segment on")
    seen: set[str] = set()
    for name in names:
        r.name(name, "segmentation.features")
        if name in seen:
            raise r.error("segmentation.features", f"{name!r} is listed twice")
        seen.add(name)
    return tuple(names)


def _segments(r: Reader, raw: Mapping[str, Any]) -> tuple[int, int]:
    at = "segmentation.segments"
    value = raw.get("segments")
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value):
        low, high = int(value[0]), int(value[1])
        if low > high:
            raise r.error(at, f"the range [{low}, {high}] is inverted: write [{high}, {low}]")
    else:
        raise r.error(at, "must be a number of segments (5) or a range [low, high] ([3, 8])")
    if low < 2:
        raise r.error(at, f"needs at least 2 segments, got {low}")
    if high > MAX_SEGMENTS:
        raise r.error(at, f"at most {MAX_SEGMENTS} segments, got {high}")
    return low, high


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
