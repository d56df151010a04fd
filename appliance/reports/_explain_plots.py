"""Explanation plots: the SHAP summary (beeswarm) and gain against mean |SHAP|."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.reports._draw import BLUE, GREY, INK, ORANGE, figure, percent_axis, short, tidy

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from appliance.reports.card import ReportInputs

__all__ = ["TOP_FEATURES", "importance_figure", "shap_summary_figure", "swarm_offsets"]

TOP_FEATURES = 15


def shap_summary_figure(inputs: ReportInputs) -> Figure | None:
    """Per feature (top by mean |SHAP|), one point per sampled row at its SHAP value,
    coloured by the feature's value normalised to its 5th-95th percentiles."""
    import matplotlib
    import numpy as np

    shap = np.asarray(inputs.shap_values, dtype=float)
    values = np.asarray(inputs.shap_features, dtype=float)
    names = list(inputs.feature_names)
    if shap.ndim != 2 or shap.shape[0] == 0 or not names:
        return None
    shap = shap[:, : len(names)]  # drop XGBoost's bias column when present
    order = np.argsort(-np.abs(shap).mean(axis=0), kind="stable")[:TOP_FEATURES]
    cmap = matplotlib.colormaps["coolwarm"]
    fig = figure(6.6, 1.3 + 0.36 * order.size)
    ax = fig.subplots()
    tidy(ax, f"SHAP values of {shap.shape[0]:,} test rows (log-odds)")
    for row, j in enumerate(order):
        level = order.size - 1 - row  # the most important feature on top
        y = level + swarm_offsets(shap[:, j])
        colour = _normalise(values[:, j])
        known = ~np.isnan(colour)
        ax.scatter(shap[~known, j], y[~known], s=5, color=GREY, linewidths=0)
        ax.scatter(
            shap[known, j], y[known], s=5, c=colour[known], cmap=cmap, vmin=0, vmax=1, linewidths=0
        )
    ax.axvline(0, color=INK, lw=0.6)
    ax.set_yticks(range(order.size), [short(names[j]) for j in order[::-1]])
    ax.set_ylim(-0.6, order.size - 0.4)
    ax.set_xlabel("SHAP value (effect on the log-odds of the positive class)")
    scale = matplotlib.cm.ScalarMappable(cmap=cmap)
    bar = fig.colorbar(scale, ax=ax, fraction=0.04, pad=0.02, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"], fontsize=8)
    bar.set_label("Feature value (grey: missing)", fontsize=8)
    return fig


def swarm_offsets(values: np.ndarray, bins: int = 60, width: float = 0.38) -> np.ndarray:
    """Vertical offsets that stack points of similar value, alternating above and below.

    Deterministic (no random jitter): within each of ``bins`` bins along the value axis,
    the k-th point by value sits ``ceil(k / 2)`` layers from the centre line.
    """
    import numpy as np

    n = values.size
    lo, hi = (float(values.min()), float(values.max())) if n else (0.0, 0.0)
    if n == 0 or hi == lo:
        idx = np.zeros(n, dtype=np.int64)
    else:
        idx = np.minimum(((values - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
    order = np.lexsort((values, idx))
    sorted_bins = idx[order]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    layer = (rank + 1) // 2 * np.where(rank % 2 == 1, 1, -1)
    out = np.empty(n)
    out[order] = layer * (width / max(int(np.abs(layer).max(initial=0)), 8))
    return out


def _normalise(column: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] between their 5th and 95th percentiles; NaN stays NaN."""
    import numpy as np

    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return np.full(column.size, np.nan)
    lo, hi = np.percentile(finite, [5, 95])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.where(np.isfinite(column), 0.5, np.nan)
    return np.where(np.isfinite(column), np.clip((column - lo) / (hi - lo), 0, 1), np.nan)


def importance_figure(inputs: ReportInputs) -> Figure | None:
    """Side by side, per feature (top by mean |SHAP|): gain share and mean |SHAP|."""
    rows = (inputs.metrics.get("importance") or [])[:TOP_FEATURES]
    if not rows:
        return None
    names = [short(r["feature"]) for r in rows][::-1]
    positions = range(len(rows))
    fig = figure(7.2, 1.3 + 0.3 * len(rows))
    gain_ax, shap_ax = fig.subplots(1, 2, sharey=True)
    tidy(gain_ax, "Gain share")
    gain_ax.barh(positions, [r.get("gain") or 0.0 for r in rows][::-1], color=ORANGE)
    gain_ax.set_yticks(positions, names)
    percent_axis(gain_ax.xaxis)
    tidy(shap_ax, "Mean |SHAP| (log-odds)")
    shap_ax.barh(positions, [r.get("mean_abs_shap") or 0.0 for r in rows][::-1], color=BLUE)
    return fig
