"""Pictures of a profile: matplotlib (Agg, no pyplot state) to inline PNG data URIs.

Every function takes profile values and returns a ``data:image/png;base64,...`` string
an ``<img src>`` can hold, so the report needs no file beside it and no network.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.profile.results import ColumnProfile, DatasetProfile, Distribution, Matrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Figures", "distribution_plot", "heatmap", "render_figures", "target_plot"]

BLUE, GREY, RED, INK = "#3b6ea5", "#c9ced6", "#c0392b", "#333333"
DPI = 110


@dataclass(frozen=True)
class Figures:
    """Data URIs by column name and by matrix name; a missing key means no picture."""

    distributions: dict[str, str] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    matrices: dict[str, str] = field(default_factory=dict)


def render_figures(
    profile: DatasetProfile, progress: Callable[[str], None] | None = None
) -> Figures:
    """Draw every picture the report shows, one progress line per column."""
    say = progress or (lambda _message: None)
    figures = Figures()
    for column in profile.columns:
        say(f"plots for {column.name}")
        if (uri := distribution_plot(column)) is not None:
            figures.distributions[column.name] = uri
        if profile.target and (uri := target_plot(column, profile.target)) is not None:
            figures.targets[column.name] = uri
    for matrix in profile.matrices:
        say(f"heatmap {matrix.method}")
        figures.matrices[matrix.name] = heatmap(matrix)
    return figures


def distribution_plot(column: ColumnProfile) -> str | None:
    """Histogram, bars of the top levels, or rows per period; None when there is nothing."""
    dist = column.distribution
    if dist is None or not dist.counts:
        return None
    fig = _figure(5.6, 2.7)
    ax = fig.subplots()
    _tidy(ax)
    if dist.kind == "histogram":
        _histogram(ax, dist)
    elif dist.kind == "timeline":
        _columns(ax, dist.labels, dist.counts, BLUE)
        _rows_axis(ax.yaxis)
    else:
        _levels(ax, dist)
    return _encode(fig)


def target_plot(column: ColumnProfile, target: str) -> str | None:
    """Rows per bin (grey bars) and the target rate per bin (red line) against the overall."""
    rates = column.target
    if rates is None or not rates.bins:
        return None
    fig = _figure(5.6, 2.9)
    ax = fig.subplots()
    _tidy(ax)
    labels = [b.label for b in rates.bins]
    _columns(ax, labels, [b.rows for b in rates.bins], GREY)
    _rows_axis(ax.yaxis, color="#777777")
    rate_ax = ax.twinx()
    positions = range(len(labels))
    rate_ax.plot(positions, [100 * b.rate for b in rates.bins], color=RED, marker="o", lw=1.6)
    rate_ax.axhline(100 * rates.overall, color=RED, ls="--", lw=0.9, alpha=0.6)
    rate_ax.set_ylabel(f"{target} rate (%)", color=RED)
    rate_ax.set_ylim(0, max(100 * b.rate for b in rates.bins) * 1.15 or 1)
    rate_ax.tick_params(axis="y", colors=RED, labelsize=8)
    rate_ax.spines["top"].set_visible(False)
    ax.set_title(f"{target} rate by {rates.method} (dashed: overall)", fontsize=9, color=INK)
    return _encode(fig)


def heatmap(matrix: Matrix) -> str:
    """A labelled heatmap; signed measures on a red-blue scale, unsigned ones on blues."""
    import numpy as np

    values = np.ma.masked_invalid(np.asarray(matrix.values, dtype=float))
    signed = matrix.name in ("pearson", "spearman")
    rows, cols = len(matrix.rows), len(matrix.columns)
    fig = _figure(min(14.0, 2.6 + 0.42 * cols), min(14.0, 1.8 + 0.36 * rows))
    ax = fig.subplots()
    cmap = _colormap("RdBu_r" if signed else "Blues")
    image = ax.imshow(values, cmap=cmap, vmin=-1 if signed else 0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), [_short(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(rows), [_short(r) for r in matrix.rows])
    ax.tick_params(labelsize=8, length=0)
    if rows * cols <= 400:
        _annotate(ax, values)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
    return _encode(fig)


def _histogram(ax: Axes, dist: Distribution) -> None:
    ax.stairs(dist.counts, dist.edges, fill=True, color=BLUE)
    ax.stairs(dist.counts, dist.edges, color="#2a5282", linewidth=0.6)
    _rows_axis(ax.yaxis)
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    if dist.edges[0] % 1 == 0.5:  # bins centred on whole numbers
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    outside = dist.below + dist.above
    if outside:
        ax.set_title(f"p1 to p99 shown; {outside:,} rows outside", fontsize=8, color="#777777")


def _levels(ax: Axes, dist: Distribution) -> None:
    labels, counts = list(dist.labels), list(dist.counts)
    colors = [BLUE] * len(labels)
    if dist.other:
        labels, counts, colors = [*labels, "(other levels)"], [*counts, dist.other], [*colors, GREY]
    positions = range(len(labels))
    ax.barh(positions, counts, color=colors)
    ax.set_yticks(positions, [_short(label, 28) for label in labels])
    ax.invert_yaxis()
    _rows_axis(ax.xaxis)
    total = sum(counts)
    for y, count in zip(positions, counts, strict=True):
        ax.annotate(f" {count / total:.1%}", (count, y), va="center", fontsize=7, color=INK)
    ax.set_xlim(right=max(counts) * 1.15)
    ax.tick_params(axis="y", labelsize=8)


def _columns(ax: Axes, labels: Any, counts: Any, color: str) -> None:
    labels = list(labels)
    positions = range(len(labels))
    ax.bar(positions, list(counts), color=color, width=0.8)
    step = max(1, math.ceil(len(labels) / 24))
    ax.set_xticks(
        list(positions)[::step],
        [_short(label, 22) for label in labels[::step]],
        rotation=35 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
    )
    ax.tick_params(axis="x", labelsize=7)


def _annotate(ax: Axes, values: Any) -> None:
    import numpy as np

    for (i, j), value in np.ndenumerate(values.filled(np.nan)):
        if not math.isnan(value):
            color = "white" if abs(value) > 0.6 else INK
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6.5, color=color)


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#eeeeee")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _rows_axis(axis: Any, color: str = INK) -> None:
    """Label an axis of row counts, with thousands separators."""
    from matplotlib.ticker import StrMethodFormatter

    axis.set_label_text("rows", color=color)
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


def _encode(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
