"""Two versions side by side: the rows of a comparison, built as plain values."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.registry.records import ModelVersion

__all__ = ["Comparison", "MetricRow", "ParamRow", "compare_versions"]

_SECTIONS = {"test": 0, "valid": 1, "validation": 1, "train": 2}  # the order rows are shown in
_SKIPPED = ("champion", "promotion")  # another model's numbers; configuration, not results


@dataclass(frozen=True)
class MetricRow:
    name: str
    """Dotted path into metrics.json, e.g. ``test.roc_auc``."""
    a: float | None
    b: float | None

    @property
    def diff(self) -> float | None:
        """``b - a`` where both are numbers."""
        if self.a is None or self.b is None:
            return None
        return self.b - self.a


@dataclass(frozen=True)
class ParamRow:
    name: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Comparison:
    a: ModelVersion
    b: ModelVersion
    metrics: tuple[MetricRow, ...]
    params: tuple[ParamRow, ...]
    """Only the parameters whose values differ."""


def compare_versions(a: ModelVersion, b: ModelVersion) -> Comparison:
    left, right = dict(_numbers(a.metrics)), dict(_numbers(b.metrics))
    names = sorted(
        [*left, *(n for n in right if n not in left)],
        key=lambda n: _SECTIONS.get(n.split(".")[0], 9),
    )
    metrics = tuple(MetricRow(n, left.get(n), right.get(n)) for n in names)
    keys = [*a.params, *(k for k in b.params if k not in a.params)]
    params = tuple(
        ParamRow(k, a.params.get(k), b.params.get(k))
        for k in keys
        if a.params.get(k) != b.params.get(k)
    )
    return Comparison(a, b, metrics, params)


def _numbers(section: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite numeric leaf under ``section``, as (dotted path, value)."""
    for key, value in section.items():
        path = f"{prefix}{key}"
        if not prefix and key in _SKIPPED:
            continue
        if isinstance(value, Mapping):
            yield from _numbers(value, f"{path}.")
        elif _is_number(value):
            yield path, float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
