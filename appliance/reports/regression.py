"""The model card's regression parts: error plots and the performance and fairness
sections of a model that predicts an amount.

Same contract as the classifier's modules: ``*_figure`` functions are pure (inputs in, a
matplotlib ``Figure`` or None), sections are built from ``metrics`` only. ``y_test`` and
``p_test`` of ``ReportInputs`` hold actual and predicted amounts here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from appliance.reports import _format as f
from appliance.reports._blocks import Block, Figure, Heading, Para, Section, table
from appliance.reports._draw import BLUE, GREY, ORANGE, RED, figure, tidy
from appliance.reports._explain_plots import importance_figure, shap_summary_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure as PlotFigure

    from appliance.reports.card import ReportInputs

__all__ = [
    "REGRESSION_PLOTS",
    "bands_figure",
    "fairness_section",
    "group_error_figure",
    "headline_text",
    "is_regression",
    "performance_section",
    "predicted_actual_figure",
    "residuals_figure",
]

_METRICS = (
    ("rmse", "RMSE"),
    ("mae", "MAE"),
    ("mape", "MAPE"),
    ("r2", "R²"),
    ("bias", "Mean error"),
)


def is_regression(metrics: Mapping[str, Any]) -> bool:
    return metrics.get("task") == "regression"


def headline_text(m: Mapping[str, Any], fairness: str) -> str:
    test, base = m.get("test") or {}, m.get("baseline_test") or {}
    verdict = (m.get("backtest") or {}).get("verdict", "none")
    return (
        f"Test RMSE **{_amount(test.get('rmse'))}** (baseline {_amount(base.get('rmse'))}) · "
        f"R² {f.measure(test.get('r2'))} · backtest: {verdict} · fairness: {fairness}"
    )


def performance_section(m: Mapping[str, Any]) -> Section:
    test, base = m.get("test") or {}, m.get("baseline_test") or {}
    parts = [m.get(p) or {} for p in ("train", "validation", "backtest_metrics")]
    rows = [
        (label, _cell(key, test), _cell(key, base), *(_cell(key, part) for part in parts))
        for key, label in _METRICS
    ]
    blocks: list[Block] = [
        Heading("Test errors, model against baseline (ridge regression)"),
        table(
            ("Metric", "Model (test)", "Baseline (test)", "Train", "Validation", "Backtest"), rows
        ),
        Para(
            f"Lower is better for RMSE, MAE and MAPE; higher for R². Test set: "
            f"{f.count(test.get('n'))} rows, mean actual {_amount(test.get('mean_actual'))}; "
            f"MAPE over the {f.count(test.get('mape_rows'))} rows whose actual is not zero."
        ),
        Figure("predicted_actual", "Predicted against actual amounts (test)"),
        Figure("residuals", "Errors against the prediction (test)"),
        Heading("Errors by prediction band"),
        table(
            ("Band", "Rows", "Predicted from", "to", "Mean predicted", "Mean actual", "RMSE"),
            [
                (
                    str(b["band"]),
                    f.count(b["n"]),
                    _amount(b["min_predicted"]),
                    _amount(b["max_predicted"]),
                    _amount(b["mean_predicted"]),
                    _amount(b["mean_actual"]),
                    _amount(b["rmse"]),
                )
                for b in m.get("bands") or []
            ],
        ),
        Figure("bands", "Mean predicted and actual amount by prediction band (test)"),
        *_backtest(m.get("backtest") or {}),
    ]
    champion = m.get("champion")
    if isinstance(champion, Mapping) and champion.get("test"):
        theirs = champion["test"]
        blocks += [
            Heading(f"Against the production model (v{champion.get('version')})"),
            Para(
                f"On this run's test rows the production model's RMSE is "
                f"{_amount(theirs.get('rmse'))} against {_amount(test.get('rmse'))} here."
            ),
        ]
    return Section(4, "Performance", tuple(blocks))


def fairness_section(m: Mapping[str, Any]) -> Section:
    report = m.get("fairness") or {}
    blocks: list[Block] = [
        Para(
            f"Rule: {report.get('rule', 'not assessed')}. Verdict: "
            f"**{'passed' if report.get('passed') else 'FAILED'}**."
        ),
    ]
    for flag in report.get("flagged") or []:
        blocks.append(Para(f"Flagged: {flag}"))
    for attribute in report.get("attributes") or []:
        rows = [
            (
                label,
                f.count(g["n"]),
                _amount(g["mean_actual"]),
                _amount(g["mean_predicted"]),
                _amount(g["bias"]),
                f.pct(g["relative_bias"]),
                _amount(g["mae"]),
                "yes" if g["passed"] else "NO" if g["judged"] else "too few rows",
            )
            for label, g in attribute["groups"].items()
        ]
        blocks += [
            Heading(f"By {attribute['attribute']}"),
            table(
                (
                    "Group",
                    "Rows",
                    "Mean actual",
                    "Mean predicted",
                    "Mean error",
                    "Error / mean amount",
                    "MAE",
                    "Passes",
                ),
                rows,
            ),
        ]
    blocks.append(Figure("group_errors", "Mean error by protected group (test)"))
    return Section(6, "Fairness", tuple(blocks))


def _backtest(b: Mapping[str, Any]) -> list[Block]:
    if not b.get("periods"):
        return [Heading("Backtest"), Para("No backtest window: stability was not checked.")]
    rows = [
        (
            p["start"],
            f.count(p.get("n")),
            _amount(p.get("rmse")),
            _amount(p.get("mae")),
            _amount(p.get("mean_actual")),
            _amount(p.get("mean_predicted")),
        )
        for p in b["periods"]
    ]
    return [
        Heading(f"Backtest by {b.get('period')}: {b.get('verdict')}"),
        table(("Period", "Rows", "RMSE", "MAE", "Mean actual", "Mean predicted"), rows),
        Para("; ".join(b.get("reasons") or [])),
    ]


def _cell(key: str, part: Mapping[str, Any]) -> str:
    value = part.get(key)
    if key == "mape":
        return f.pct(value)
    return f.measure(value) if key == "r2" else _amount(value)


def _amount(value: float | None) -> str:
    return f.DASH if value is None else f"{value:,.2f}"


def predicted_actual_figure(inputs: ReportInputs) -> PlotFigure | None:
    import numpy as np

    y, p = np.asarray(inputs.y_test, float), np.asarray(inputs.p_test, float)
    if y.size == 0:
        return None
    fig = figure(5.0, 4.6)
    ax = fig.subplots()
    tidy(ax, "Predicted against actual (test)")
    ax.scatter(y, p, s=8, alpha=0.45, color=BLUE, linewidths=0, label="Model")
    ax.scatter(
        y, inputs.p_baseline_test, s=6, alpha=0.25, color=ORANGE, linewidths=0, label="Baseline"
    )
    low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([low, high], [low, high], color=GREY, linestyle="--", linewidth=1, label="Perfect")
    ax.set_xlabel("Actual")
    ax.set_ylabel("Predicted")
    ax.legend(frameon=False, loc="upper left")
    return fig


def residuals_figure(inputs: ReportInputs) -> PlotFigure | None:
    import numpy as np

    y, p = np.asarray(inputs.y_test, float), np.asarray(inputs.p_test, float)
    if y.size == 0:
        return None
    fig = figure(8.0, 3.6)
    left, right = fig.subplots(1, 2)
    tidy(left, "Error against prediction")
    left.scatter(p, p - y, s=8, alpha=0.45, color=BLUE, linewidths=0)
    left.axhline(0, color=GREY, linewidth=1)
    left.set_xlabel("Predicted")
    left.set_ylabel("Predicted − actual")
    tidy(right, "Distribution of errors")
    right.hist(p - y, bins=40, color=BLUE, alpha=0.8)
    right.axvline(0, color=RED, linewidth=1)
    right.set_xlabel("Predicted − actual")
    return fig


def bands_figure(inputs: ReportInputs) -> PlotFigure | None:
    import numpy as np

    bands = inputs.metrics.get("bands") or []
    if not bands:
        return None
    fig = figure(6.0, 3.6)
    ax = fig.subplots()
    tidy(ax, "Mean amount by prediction band")
    x = np.arange(1, len(bands) + 1)
    ax.plot(x, [b["mean_predicted"] for b in bands], marker="o", color=BLUE, label="Predicted")
    ax.plot(x, [b["mean_actual"] for b in bands], marker="s", color=ORANGE, label="Actual")
    ax.set_xlabel("Prediction band (1 = lowest)")
    ax.legend(frameon=False)
    return fig


def group_error_figure(inputs: ReportInputs) -> PlotFigure | None:
    attributes = (inputs.metrics.get("fairness") or {}).get("attributes") or []
    bars = [
        (f"{a['attribute']}={label}", g["relative_bias"] or 0.0, g["passed"])
        for a in attributes
        for label, g in a["groups"].items()
    ]
    if not bars:
        return None
    limit = float((inputs.metrics.get("fairness") or {}).get("limit", 0.1))
    fig = figure(6.5, 0.8 + 0.32 * len(bars))
    ax = fig.subplots()
    tidy(ax, "Mean error as a share of the mean amount")
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=[BLUE if b[2] else RED for b in bars])
    for edge in (-limit, limit):
        ax.axvline(edge, color=GREY, linestyle="--", linewidth=1)
    ax.invert_yaxis()
    return fig


REGRESSION_PLOTS: dict[str, Callable[[ReportInputs], PlotFigure | None]] = {
    "predicted_actual": predicted_actual_figure,
    "residuals": residuals_figure,
    "bands": bands_figure,
    "shap_summary": shap_summary_figure,
    "importance": importance_figure,
    "group_errors": group_error_figure,
}
"""The regression card's plots by name, in the order they are drawn."""
