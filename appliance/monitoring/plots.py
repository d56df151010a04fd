"""The monitoring report's plots, drawn from stored results into PNG data URIs.

matplotlib is imported inside each function and used through ``Figure`` objects (no
pyplot state); PNGs carry no timestamp, so the same results give the same bytes. The
palette and manners follow the model card's plots.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["drift_plot", "fairness_plot", "performance_plot", "score_plot"]

BLUE, ORANGE, GREY, RED, INK = "#3b6ea5", "#dd8452", "#9aa5b1", "#c0392b", "#333333"
GREEN = "#55a868"
_CYCLE = (BLUE, ORANGE, GREEN, RED, "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _tidy(ax: Axes, title: str) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10, color=INK)


def _uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bands(ax: Axes, watch: float, act: float) -> None:
    ax.axhline(watch, color=ORANGE, lw=0.8, ls="--", label=f"watch {watch:g}")
    ax.axhline(act, color=RED, lw=0.8, ls="--", label=f"act {act:g}")


def drift_plot(
    labels: Sequence[str], series: Mapping[str, Sequence[float | None]], watch: float, act: float
) -> str:
    """PSI per window: one line per feature named in ``series`` (the rest are summarised)."""
    fig = _figure(9, 3.6)
    ax = fig.add_subplot()
    x = range(len(labels))
    for i, (name, values) in enumerate(series.items()):
        ys = [float("nan") if v is None else v for v in values]
        ax.plot(x, ys, marker="o", ms=3, lw=1.2, color=_CYCLE[i % len(_CYCLE)], label=name)
    _bands(ax, watch, act)
    ax.set_xticks(list(x), labels, rotation=45, ha="right")
    ax.set_ylabel("PSI", fontsize=8)
    ax.legend(fontsize=7, ncols=2, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    _tidy(ax, "Population stability per window (features that reached watch, and the score)")
    return _uri(fig)


def score_plot(bins: Sequence[str], reference: Sequence[float], current: Sequence[float],
               label: str) -> str:  # fmt: skip
    """Score distribution over the reference's score deciles: reference vs a window."""
    import numpy as np

    fig = _figure(9, 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(bins))
    ax.bar(x - 0.2, reference, 0.4, color=GREY, label="reference (test rows)")
    ax.bar(x + 0.2, current, 0.4, color=BLUE, label=label)
    ax.set_xticks(x, bins, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share of rows", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    _tidy(ax, "Score distribution now vs reference")
    return _uri(fig)


def performance_plot(labels: Sequence[str], lines: Mapping[str, Sequence[float | None]]) -> str:
    """Performance figures per window; estimated ones dashed."""
    fig = _figure(9, 3.4)
    ax = fig.add_subplot()
    x = range(len(labels))
    for i, (name, values) in enumerate(lines.items()):
        ys = [float("nan") if v is None else v for v in values]
        style = "--" if "estimated" in name else "-"
        ax.plot(x, ys, ls=style, marker="o", ms=3, lw=1.2, color=_CYCLE[i % len(_CYCLE)],
                label=name)  # fmt: skip
    ax.set_xticks(list(x), labels, rotation=45, ha="right")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    _tidy(ax, "Performance per window (dashed: estimated from scores, outcomes not yet known)")
    return _uri(fig)


def fairness_plot(labels: Sequence[str], attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """Approval rate per group over windows, one panel per protected attribute."""
    fig = _figure(9, 2.8 * max(len(attributes), 1))
    x = range(len(labels))
    for row, (attribute, groups) in enumerate(attributes.items(), start=1):
        ax = fig.add_subplot(len(attributes), 1, row)
        for i, (group, values) in enumerate(groups.items()):
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(x, ys, marker="o", ms=3, lw=1.2, color=_CYCLE[i % len(_CYCLE)], label=group)
        ax.set_xticks(list(x), labels, rotation=45, ha="right")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
        _tidy(ax, f"Approval rate by {attribute}")
    return _uri(fig)
