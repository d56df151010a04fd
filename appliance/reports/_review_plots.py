"""Review plots: the backtest over time and favourable rates per protected group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.reports._draw import BLUE, GREY, INK, ORANGE, RED, figure, percent_axis, short, tidy
from appliance.reports._performance import backtest_exists

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from appliance.reports.card import ReportInputs

__all__ = ["backtest_figure", "backtest_periods", "fairness_figure"]

MAX_ATTRIBUTES = 6


def backtest_periods(inputs: ReportInputs) -> list[dict[str, Any]]:
    """The backtest's periods from the metrics, else computed from the backtest arrays."""
    if backtest_exists(inputs.metrics):
        return list(inputs.metrics["backtest"]["periods"])
    dates, p = inputs.backtest_dates, inputs.backtest_p
    if dates is None or p is None or len(p) == 0:
        return []
    from appliance.evaluation import stability

    monthly = (inputs.metrics.get("backtest") or {}).get("period") == "month"
    backtest = stability(dates, inputs.backtest_y, p, period="month" if monthly else "week")
    return list(backtest.to_dict()["periods"])


def backtest_figure(inputs: ReportInputs) -> Figure | None:
    """Per period: ROC AUC against the test AUC and rows (top), score p10/p50/p90 (bottom)."""
    import numpy as np

    periods = backtest_periods(inputs)
    if not periods:
        return None
    x = np.arange(len(periods))
    auc = np.array([np.nan if p.get("auc") is None else p["auc"] for p in periods])
    reference = (inputs.metrics.get("test") or {}).get("roc_auc")
    fig = figure(6.6, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    tidy(top, "Backtest: ROC AUC per period (grey bars: rows)")
    volume = top.twinx()
    volume.bar(x, [p["n"] for p in periods], width=0.6, color=GREY, alpha=0.3)
    volume.set_ylabel("Rows", color=GREY, fontsize=8)
    volume.tick_params(labelsize=7, colors=GREY)
    volume.spines["top"].set_visible(False)
    top.set_zorder(volume.get_zorder() + 1)
    top.patch.set_visible(False)
    top.plot(x, auc, color=BLUE, marker="o", lw=1.6, label="Period AUC")
    if reference is not None:
        top.axhline(reference, color=RED, ls="--", lw=1.0, label=f"Test AUC {reference:.3f}")
    known = [v for v in [*auc.tolist(), reference] if v is not None and not np.isnan(v)]
    if known:
        top.set_ylim(max(0.0, min(known) - 0.05), min(1.0, max(known) + 0.03))
    top.set_ylabel("ROC AUC")
    top.legend(fontsize=8, frameon=False, loc="lower left")
    tidy(bottom, "Score percentiles per period")
    p10, p50, p90 = ([p[k] for p in periods] for k in ("p10", "p50", "p90"))
    bottom.fill_between(x, p10, p90, color=BLUE, alpha=0.2, label="p10 to p90")
    bottom.plot(x, p50, color=BLUE, lw=1.6, marker=".", label="p50")
    bottom.set_ylabel("Predicted probability")
    period = (inputs.metrics.get("backtest") or {}).get("period") or "period"
    bottom.set_xlabel(f"{str(period).capitalize()} starting")
    bottom.legend(fontsize=8, frameon=False, loc="upper left")
    step = max(1, len(periods) // 12)
    bottom.set_xticks(
        x[::step],
        [p["start"] for p in periods][::step],
        rotation=30 if len(periods) > 4 else 0,
        ha="right" if len(periods) > 4 else "center",
    )
    bottom.set_xlim(-0.6, len(periods) - 0.4)
    return fig


def fairness_figure(inputs: ReportInputs) -> Figure | None:
    """One panel per attribute: favourable rate per group, and the four-fifths line."""
    report = inputs.metrics.get("fairness") or {}
    attributes = (report.get("attributes") or [])[:MAX_ATTRIBUTES]
    if not attributes:
        return None
    floor = float(report.get("di_floor") or 0.8)
    fig = figure(3.0 * len(attributes) + 0.6, 3.6)
    axes = fig.subplots(1, len(attributes), squeeze=False)[0]
    for ax, a in zip(axes, attributes, strict=True):
        groups = a.get("groups") or []
        rates = [g["favourable_rate"] for g in groups]
        colours = [BLUE if g.get("eligible") else GREY for g in groups]
        positions = range(len(groups))
        tidy(ax, f"{a['attribute']}: {'pass' if a.get('passed') else 'fail'}")
        ax.bar(positions, rates, color=colours, width=0.7)
        for x, rate in zip(positions, rates, strict=True):
            ax.annotate(f"{rate:.0%}", (x, rate), ha="center", va="bottom", fontsize=7, color=INK)
        eligible = [g["favourable_rate"] for g in groups if g.get("eligible")]
        if eligible:
            line = floor * max(eligible)
            ax.axhline(
                line,
                color=ORANGE if a.get("four_fifths_pass", True) else RED,
                ls="--",
                lw=1.1,
                label=f"{floor:g} × highest",
            )
            ax.legend(fontsize=7, frameon=False, loc="lower right")
        ax.set_xticks(
            list(positions),
            [short(str(g["group"]), 14) for g in groups],
            rotation=30 if len(groups) > 3 else 0,
            ha="right" if len(groups) > 3 else "center",
        )
        ax.set_ylim(0, 1.08)
        percent_axis(ax.yaxis)
    axes[0].set_ylabel("Favourable rate")
    fig.suptitle("Favourable rate per group (grey: too small to assess)", fontsize=9, color=INK)
    return fig
