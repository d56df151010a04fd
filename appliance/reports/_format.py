"""Numbers as the model card prints them: AUCs to 3 decimals, rates as percentages.

Every formatter takes ``None`` (and NaN) and returns an en dash, so a missing metric
prints as a gap rather than failing the whole card.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "count", "measure", "param", "pct", "period", "signed", "threshold"]

DASH = "–"


def measure(value: float | None, digits: int = 3) -> str:
    """A metric such as ROC AUC, KS or a lift: fixed decimals."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3) -> str:
    """A difference, always with its sign."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value:+.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    if value is None or math.isnan(value):
        return DASH
    return f"{100 * value:.{digits}f}%"


def count(value: int | float | None) -> str:
    """A count with thousands separators."""
    if value is None or math.isnan(value):
        return DASH
    return f"{round(value):,}"


def threshold(value: float | None) -> str:
    """A score cut-off: four decimals, enough to reproduce the decision."""
    return measure(value, 4)


def param(value: Any) -> str:
    """A hyper-parameter: integers as they are, floats to four significant digits."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return DASH if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def period(bounds: Any) -> str:
    """``[first, last]`` dates as ``first to last``; a missing period as a dash."""
    if not bounds:
        return DASH
    first, last = (str(b)[:10] if b is not None else "?" for b in bounds)
    return first if first == last else f"{first} to {last}"
