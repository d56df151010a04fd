"""The training plots as PNG files: curves, calibration, decisions, lift, SHAP, fairness.

Each ``*_figure`` function is pure (``ReportInputs`` in, a matplotlib ``Figure`` or None
when there is nothing to draw); ``write_plots`` saves them. matplotlib loads only when a
plot is drawn, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.reports._draw import BLUE, GREY, INK, ORANGE, RED, figure, percent_axis, save, tidy
from appliance.reports._explain_plots import importance_figure, shap_summary_figure
from appliance.reports._review_plots import backtest_figure, fairness_figure
from appliance.reports.card import ModelCardError, ReportInputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PLOTS",
    "calibration_figure",
    "confusion_figure",
    "lift_figure",
    "pr_figure",
    "roc_figure",
    "score_distribution_figure",
    "write_plots",
]


def write_plots(out_dir: Path, inputs: ReportInputs) -> dict[str, Path]:
    """Draw every plot there is data for into ``out_dir``; name (file stem) to path."""
    written: dict[str, Path] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        from appliance.reports import regression

        kind = regression.REGRESSION_PLOTS if regression.is_regression(inputs.metrics) else PLOTS
        for name, draw in kind.items():
            fig = draw(inputs)
            if fig is not None:
                written[name] = save(fig, out_dir / f"{name}.png")
    except OSError as exc:
        raise ModelCardError(f"cannot write the plots to {out_dir}: {exc.strerror or exc}") from exc
    return written


def roc_figure(inputs: ReportInputs) -> Figure:
    """ROC curves of the model and the baseline, AUCs in the legend."""
    from appliance.evaluation import roc_auc, roc_curve

    fig = figure(5.0, 4.4)
    ax = fig.subplots()
    tidy(ax, "ROC curve (test)")
    for label, p, color in _models(inputs):
        fpr, tpr, _ = roc_curve(inputs.y_test, p, drop_intermediate=True)
        auc = roc_auc(inputs.y_test, p)
        ax.plot(fpr, tpr, color=color, lw=1.8, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color=GREY, ls="--", lw=0.9, label="Random (AUC 0.500)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


def pr_figure(inputs: ReportInputs) -> Figure:
    """Precision against recall for the model and the baseline, with the random line."""
    from appliance.evaluation import pr_auc, pr_curve

    fig = figure(5.0, 4.4)
    ax = fig.subplots()
    tidy(ax, "Precision–recall curve (test)")
    for label, p, color in _models(inputs):
        precision, recall, _ = pr_curve(inputs.y_test, p)
        ap = pr_auc(inputs.y_test, p)
        ax.step(
            recall, precision, where="post", color=color, lw=1.6, label=f"{label} (AP {ap:.3f})"
        )
    rate = float(inputs.y_test.mean())
    ax.axhline(rate, color=GREY, ls="--", lw=0.9, label=f"Random ({rate:.1%} positive)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return fig


def calibration_figure(inputs: ReportInputs) -> Figure:
    """Reliability diagram: observed rate against mean prediction per bin, rows below."""
    from appliance.evaluation import calibration_table

    rows = inputs.metrics.get("calibration") or calibration_table(inputs.y_test, inputs.p_test)
    predicted = [r["mean_predicted"] for r in rows]
    observed = [r["observed_rate"] for r in rows]
    top = max(max(predicted), max(observed)) * 1.08 or 1.0
    fig = figure(5.0, 5.0)
    ax, bars = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    tidy(ax, "Calibration (test, equal-frequency bins)")
    ax.plot([0, top], [0, top], color=GREY, ls="--", lw=0.9, label="Perfect calibration")
    ax.plot(predicted, observed, color=BLUE, marker="o", lw=1.6, label="Model")
    ax.set(xlim=(0, top), ylim=(0, top), ylabel="Observed positive rate")
    percent_axis(ax.yaxis)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    tidy(bars)
    widths = [max(r["high"] - r["low"], top / 200) for r in rows]
    bars.bar(
        [r["low"] for r in rows],
        [r["n"] for r in rows],
        width=widths,
        align="edge",
        color=GREY,
        edgecolor="white",
    )
    for x, r in zip(predicted, rows, strict=True):
        bars.annotate(f"{r['n']:,}", (x, r["n"]), ha="center", va="bottom", fontsize=6, color=INK)
    bars.set(xlabel="Mean predicted probability", ylabel="Rows")
    bars.set_ylim(0, max(r["n"] for r in rows) * 1.3)
    percent_axis(bars.xaxis)
    return fig


def confusion_figure(inputs: ReportInputs) -> Figure | None:
    """The confusion matrix at the chosen threshold, counts and shares annotated."""
    t = inputs.metrics.get("threshold") or {}
    if not all(k in t for k in ("tp", "fp", "tn", "fn")):
        return None
    label = inputs.metrics.get("positive_label") or "positive"
    cells = [[t["tp"], t["fn"]], [t["fp"], t["tn"]]]
    total = sum(map(sum, cells)) or 1
    fig = figure(4.6, 3.8)
    ax = fig.subplots()
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=max(map(max, cells)) or 1, aspect="auto")
    for i, row in enumerate(cells):
        for j, value in enumerate(row):
            dark = value > 0.6 * max(map(max, cells))
            ax.text(
                j,
                i,
                f"{value:,}\n{value / total:.1%}",
                ha="center",
                va="center",
                fontsize=10,
                color="white" if dark else INK,
            )
    ax.set_xticks([0, 1], ["Flagged", "Not flagged"])
    ax.set_yticks([0, 1], [f"Actual\n{label}", f"Actual\nnot {label}"])
    ax.set_xlabel("Decision", fontsize=9)
    ax.tick_params(labelsize=8, length=0)
    ax.set_title(f"Test decisions at threshold {t.get('value', 0.0):.4f}", fontsize=10, color=INK)
    return fig


def score_distribution_figure(inputs: ReportInputs) -> Figure:
    """Histograms of the test scores of each class, as shares of the class, and the cut."""
    import numpy as np

    label = inputs.metrics.get("positive_label") or "positive"
    p, y = np.asarray(inputs.p_test, dtype=float), np.asarray(inputs.y_test)
    low, high = float(p.min()), float(p.max())
    edges = np.linspace(low, high if high > low else low + 1e-3, 41).tolist()
    fig = figure(5.6, 3.4)
    ax = fig.subplots()
    tidy(ax, "Test scores by outcome")
    for cls, name, color in ((0, f"not {label}", BLUE), (1, label, ORANGE)):
        part = p[y == cls]
        if part.size:
            weights = np.full(part.size, 1.0 / part.size)
            ax.hist(
                part,
                bins=edges,
                weights=weights,
                color=color,
                alpha=0.55,
                label=f"{name} ({part.size:,})",
            )
    t = (inputs.metrics.get("threshold") or {}).get("value")
    if t is not None:
        ax.axvline(t, color=RED, lw=1.2, ls="--", label=f"threshold {t:.4f}")
    ax.set(xlabel="Predicted probability", ylabel="Share of the class")
    percent_axis(ax.yaxis)
    ax.legend(fontsize=8, frameon=False)
    return fig


def lift_figure(inputs: ReportInputs) -> Figure:
    """Lift per decile (bars) and cumulative capture of positives (line)."""
    from appliance.evaluation import decile_table

    rows = inputs.metrics.get("deciles") or decile_table(inputs.y_test, inputs.p_test)
    buckets = [r["bucket"] for r in rows]
    total = sum(r["positives"] for r in rows) or 1
    capture, running = [], 0.0
    for r in rows:
        running += r["positives"]
        capture.append(running / total)
    fig = figure(5.6, 3.6)
    ax = fig.subplots()
    tidy(ax, "Lift by decile (1 = highest scores)")
    ax.bar(buckets, [r["lift"] for r in rows], color=BLUE, width=0.7, label="Lift")
    ax.axhline(1.0, color=GREY, ls="--", lw=0.9)
    ax.set(xlabel="Decile", ylabel="Lift (rate / overall rate)", xticks=buckets)
    share = ax.twinx()
    share.plot(buckets, capture, color=ORANGE, marker="o", lw=1.6, label="Cumulative capture")
    share.plot(buckets, [b / len(rows) for b in buckets], color=GREY, lw=0.8, ls=":")
    share.set_ylim(0, 1.05)
    share.set_ylabel("Share of positives captured", color=ORANGE)
    percent_axis(share.yaxis)
    share.tick_params(labelsize=8)
    share.spines["top"].set_visible(False)
    handles = ax.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    return fig


def _models(inputs: ReportInputs) -> list[tuple[str, Any, str]]:
    return [("Model", inputs.p_test, BLUE), ("Baseline", inputs.p_baseline_test, ORANGE)]


PLOTS: dict[str, Callable[[ReportInputs], Figure | None]] = {
    "roc": roc_figure,
    "pr": pr_figure,
    "calibration": calibration_figure,
    "confusion": confusion_figure,
    "score_distribution": score_distribution_figure,
    "lift": lift_figure,
    "shap_summary": shap_summary_figure,
    "importance": importance_figure,
    "backtest": backtest_figure,
    "fairness": fairness_figure,
}
"""Every plot by name (its file is ``<name>.png``), in the order they are drawn."""
