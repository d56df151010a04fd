"""Shared drawing manners of the report plots: one figure size grammar, one palette.

matplotlib is imported inside each function (never at module import) and used through
``Figure`` objects, not pyplot, so there is no global state; PNGs carry no timestamp or
software tag, so the same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BLUE",
    "DPI",
    "GREY",
    "INK",
    "ORANGE",
    "RED",
    "figure",
    "percent_axis",
    "save",
    "short",
    "tidy",
]

BLUE, ORANGE, GREY, RED, INK = "#3b6ea5", "#dd8452", "#9aa5b1", "#c0392b", "#333333"
DPI = 100


def figure(width: float, height: float) -> Figure:
    """A white figure with constrained layout, ``width`` by ``height`` inches."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def tidy(ax: Axes, title: str = "") -> None:
    """No top and right spines, small ticks, an optional title."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    if title:
        ax.set_title(title, fontsize=10, color=INK)


def percent_axis(axis: Any, decimals: int = 0) -> None:
    """Label an axis of shares in [0, 1] as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=decimals))


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG without metadata that changes from run to run."""
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def short(text: str, limit: int = 28) -> str:
    """Long labels cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
