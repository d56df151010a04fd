"""The profile as one self-contained HTML page, and writing it atomically.

``render_html`` is pure (values in, text out); ``write_report`` is the only I/O.
The page has no external assets: CSS is inline and plots are PNG data URIs.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError
from appliance.profile.plots import Figures
from appliance.profile.results import DatasetProfile, Matrix

__all__ = ["ReportError", "render_html", "strongest_pairs", "write_report"]

TEMPLATE = "report.html"
"""The Jinja template beside this module (``*.html`` files ship as package data)."""


class ReportError(ApplianceError):
    """The report could not be written where it was asked for."""


def render_html(
    profile: DatasetProfile, figures: Figures | None = None, *, generated_at: str = ""
) -> str:
    """The whole report page; ``figures`` from ``plots.render_figures`` (none: text only)."""
    from importlib import metadata, resources

    import jinja2

    template = resources.files("appliance.profile").joinpath(TEMPLATE).read_text("utf-8")

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(num=fmt_number, pct=fmt_percent, size=fmt_bytes)
    alerts_by_column: dict[str, list[Any]] = {}
    for alert in profile.alerts:
        alerts_by_column.setdefault(alert.column or "", []).append(alert)
    return env.from_string(template).render(
        p=profile,
        fig=figures or Figures(),
        alerts_by_column=alerts_by_column,
        pairs={m.name: strongest_pairs(m) for m in profile.matrices},
        kinds=_kind_counts(profile),
        generated_at=generated_at,
        version=metadata.version("scoring-appliance"),
    )


def write_report(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` through a temporary file and one rename; return the path."""
    from appliance.lake import replace_atomically

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        replace_atomically(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def strongest_pairs(matrix: Matrix, limit: int = 10) -> list[tuple[str, str, float]]:
    """The ``limit`` pairs of distinct columns with the largest absolute value, each once."""
    seen, pairs = set(), []
    for i, row in enumerate(matrix.rows):
        for j, column in enumerate(matrix.columns):
            key = frozenset((row, column))
            value = matrix.values[i][j]
            if row == column or key in seen or math.isnan(value):
                continue
            seen.add(key)
            pairs.append((row, column, value))
    return sorted(pairs, key=lambda pair: -abs(pair[2]))[:limit]


def fmt_number(value: float | int | None) -> str:
    """Thousands separators for counts, a few significant digits for measures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    ):
        return f"{int(value):,}"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}" if magnitude >= 1e-3 else f"{value:.2e}"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:.{digits}f}%"


def fmt_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"  # pragma: no cover


def _kind_counts(profile: DatasetProfile) -> dict[str, int]:
    counts: dict[str, int] = {}
    for column in profile.columns:
        counts[column.kind] = counts.get(column.kind, 0) + 1
    return counts
