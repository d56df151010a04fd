"""Training plots and the model card: valid PNGs, a self-contained page, stable Markdown."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance import evaluation as ev
from appliance.reports import (
    PLOTS,
    ReportInputs,
    card_sections,
    render_html,
    render_markdown,
    write_card,
    write_plots,
)
from appliance.reports._draw import save
from appliance.reports._explain_plots import swarm_offsets
from appliance.reports._limitations import findings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATASET_HASH = "5f2c0a9e" * 8
BOOSTER_SHA = "ab12" * 16
SECTIONS = (
    "Purpose and intended use",
    "Data",
    "Methodology",
    "Performance",
    "Limitations and assumptions",
    "Fairness",
    "Explanations",
    "Monitoring plan",
    "Approvals",
)
NAMES = ["income", "utilisation", "tenure_months", "region"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _booster(x: np.ndarray, y: np.ndarray) -> Any:
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}
    data = xgb.DMatrix(
        x, label=y, feature_names=NAMES, feature_types=["q", "q", "q", "c"], enable_categorical=True
    )
    return xgb.train(params, data, num_boost_round=25), params


def _predict(booster: Any, x: np.ndarray, contribs: bool = False) -> np.ndarray:
    import xgboost as xgb

    data = xgb.DMatrix(
        x, feature_names=NAMES, feature_types=["q", "q", "q", "c"], enable_categorical=True
    )
    return np.asarray(booster.predict(data, pred_contribs=contribs), dtype=np.float64)


def _card() -> dict[str, Any]:
    return {
        "model": "thin_file_credit",
        "version": 3,
        "usecase": "credit_thin_file",
        "description": "Probability of default for applicants without a <bureau> file.",
        "purpose": "Approve or decline small unsecured loans.",
        "owner": "Retail credit risk",
        "trained_at": "2024-05-01T10:00:00Z",
        "duration_s": 12.5,
        "code_version": "scoring-appliance 0.1.0",
        "booster_sha256": BOOSTER_SHA,
        "seed": 42,
        "datasets": [
            {
                "name": "applications",
                "rows": 2000,
                "versions": [
                    {
                        "version": DATASET_HASH,
                        "rows": 2000,
                        "path": "lake/applications/v1.parquet",
                        "time_min": "2023-01-01",
                        "time_max": "2023-12-31",
                        "source_sha256": "9" * 64,
                    }
                ],
            }
        ],
        "features": [
            {"position": 0, "name": "income", "type": "numeric", "source": "applications.income"},
            {"position": 1, "name": "utilisation", "type": "numeric", "source": "telco"},
            {
                "position": 2,
                "name": "tenure_months",
                "type": "numeric",
                "source": "telco",
                "missing_rate": 0.4,
            },
            {
                "position": 3,
                "name": "region",
                "type": "categorical",
                "source": "applications",
                "categories": ["north", "south", "east"],
            },
        ],
        "protected": ["gender", "age_band"],
        "target": "defaulted",
        "limitations": ["Synthetic data: numbers illustrate the method, not a real portfolio."],
        "gates": [{"name": "fairness", "passed": True, "detail": "all attributes pass"}],
    }


def make_inputs(with_backtest: bool = True) -> ReportInputs:
    rng = np.random.default_rng(7)
    n = 2000
    x = rng.normal(size=(n, 4))
    x[:, 3] = rng.integers(0, 3, n)
    x[rng.random(n) < 0.1, 2] = np.nan
    logit = -1.8 + 1.1 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * np.nan_to_num(x[:, 2]) + 0.3 * x[:, 3]
    y = (rng.random(n) < _sigmoid(logit)).astype(np.int64)
    dates = np.datetime64("2023-01-01") + np.sort(rng.integers(0, 365, n)).astype("timedelta64[D]")
    train, valid, test, back = slice(0, 1000), slice(1000, 1300), slice(1300, 1700), slice(1700, n)
    booster, params = _booster(x[train], y[train])
    p = _predict(booster, x)
    p_base = _sigmoid(-1.8 + 0.9 * x[:, 0])
    y_test, p_test = y[test], p[test]
    t = ev.choose_threshold(y[valid], p[valid], ev.ThresholdPolicy("max_fbeta"))
    c = ev.confusion(y_test, p_test, t)
    shap = _predict(booster, x[test], contribs=True)
    gain = booster.get_score(importance_type="total_gain")
    mean_abs = np.abs(shap[:, :-1]).mean(axis=0)
    importance = sorted(
        (
            {
                "feature": f,
                "gain": gain.get(f, 0.0) / sum(gain.values()),
                "mean_abs_shap": float(mean_abs[j]),
            }
            for j, f in enumerate(NAMES)
        ),
        key=lambda r: -r["mean_abs_shap"],
    )
    groups = {
        "gender": rng.choice(["F", "M"], 400),
        "age_band": rng.choice(["under 25", "25-64", "65+"], 400, p=[0.05, 0.8, 0.15]),
    }
    reference_auc = ev.roc_auc(y_test, p_test)
    if with_backtest:
        backtest = ev.stability(
            dates[back],
            y[back],
            p[back],
            period="month",
            reference_p=p_test,
            reference_auc=reference_auc,
            min_rows=50,
        )
    else:
        backtest = ev.stability(np.empty(0, "datetime64[D]"), np.empty(0), np.empty(0))
    metrics = {
        "usecase": "credit_thin_file",
        "model": "thin_file_credit",
        "optimise": "roc_auc",
        "positive_label": "defaulted",
        "favourable": "not_flagged",
        "split": {
            "policy": "time",
            "sizes": {
                "train": 1000,
                "validation": 300,
                "test": 400,
                "backtest": 300 if with_backtest else 0,
            },
            "periods": {
                part: [str(dates[s].min()), str(dates[s].max())]
                for part, s in (
                    ("train", train),
                    ("validation", valid),
                    ("test", test),
                    ("backtest", back),
                )
            },
        },
        "train": ev.summary(y[train], p[train]),
        "validation": ev.summary(y[valid], p[valid]),
        "test": ev.summary(y_test, p_test),
        "baseline_test": ev.summary(y_test, p_base[test]),
        "backtest_metrics": ev.summary(y[back], p[back]) if with_backtest else None,
        "calibration": ev.calibration_table(y_test, p_test),
        "threshold": {
            "value": t,
            "policy": ev.ThresholdPolicy("max_fbeta").describe(),
            "tp": c.tp,
            "fp": c.fp,
            "tn": c.tn,
            "fn": c.fn,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "f2": c.f2,
            "approval_rate": c.approval_rate,
            "flagged_rate": c.flagged_rate,
        },
        "threshold_table": ev.threshold_table(y_test, p_test),
        "lift": ev.lift_table(y_test, p_test),
        "deciles": ev.decile_table(y_test, p_test),
        "business": ev.business_metrics(y_test, p_test, t),
        "backtest": backtest.to_dict(),
        "fairness": ev.fairness_report(y_test, p_test, t, groups).to_dict(),
        "importance": importance,
        "champion": {"version": 2, "test": ev.summary(y_test, p_base[test])},
        "promotion": {"tolerance": 0.01, "auto": False},
        "search": [
            {"params": params, "best_round": 25, "score": 0.81},
            {"params": {**params, "max_depth": 5}, "best_round": 12, "score": 0.79},
        ],
        "params": params,
        "best_round": 25,
    }
    if not with_backtest:
        metrics["split"]["periods"]["backtest"] = None
    return ReportInputs(
        metrics=metrics,
        card=_card(),
        y_test=y_test,
        p_test=p_test,
        p_baseline_test=p_base[test],
        shap_values=shap,
        shap_features=x[test],
        feature_names=NAMES,
        backtest_dates=dates[back] if with_backtest else None,
        backtest_p=p[back] if with_backtest else None,
        backtest_y=y[back] if with_backtest else None,
    )


@pytest.fixture(scope="module")
def inputs() -> ReportInputs:
    return make_inputs()


@pytest.fixture(scope="module")
def written(inputs: ReportInputs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report")
    plots = write_plots(out, inputs)
    md, html = write_card(out, inputs, plots)
    return {
        "out": out,
        "plots": plots,
        "md": md.read_text("utf-8"),
        "html": html.read_text("utf-8"),
    }


def test_every_plot_is_a_png_of_reasonable_size(written: dict[str, Any]) -> None:
    plots = written["plots"]
    assert set(plots) == set(PLOTS)
    for name, path in plots.items():
        assert path == written["out"] / f"{name}.png"
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert 5_000 < len(data) < 1_000_000, (name, len(data))


def test_html_is_self_contained(written: dict[str, Any]) -> None:
    html = written["html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == len(written["plots"])
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "&lt;bureau&gt;" in html  # text is escaped, not markup


def test_markdown_references_plots_by_relative_name(written: dict[str, Any]) -> None:
    for name in written["plots"]:
        assert f"]({name}.png)" in written["md"]
    assert "data:image" not in written["md"]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_card_holds_sections_identity_and_verdicts(
    written: dict[str, Any], inputs: ReportInputs, fmt: str
) -> None:
    text = written[fmt]
    for number, title in enumerate(SECTIONS, 1):
        assert f"{number}. {title}" in text
    assert text.index("1. Purpose") < text.index("4. Performance") < text.index("9. Approvals")
    assert "thin_file_credit v3" in text
    assert f"{inputs.metrics['test']['roc_auc']:.3f}" in text
    assert DATASET_HASH in text and BOOSTER_SHA in text
    verdict = "passed" if inputs.metrics["fairness"]["passed"] else "failed"
    assert re.search(rf"Fairness verdict: (\*\*|<strong>)?{verdict}", text.replace("**", ""))
    assert "Stability verdict: " in text.replace("**", "").replace("<strong>", "")
    assert "Model owner" in text and "Business approver" in text
    assert "Synthetic data" in text  # card["limitations"]
    assert "tenure_months" in text and "40%" in text  # the missing-values finding


def test_card_without_backtest_window(tmp_path: Path) -> None:
    inputs = make_inputs(with_backtest=False)
    plots = write_plots(tmp_path, inputs)
    assert "backtest" not in plots and not (tmp_path / "backtest.png").exists()
    md, html = write_card(tmp_path, inputs, plots)
    for text in (md.read_text("utf-8"), html.read_text("utf-8")):
        assert "No backtest window" in text
        assert "backtest.png" not in text


def test_identical_inputs_give_identical_files(written: dict[str, Any], tmp_path: Path) -> None:
    again = make_inputs()  # trained afresh
    relative = {name: f"{name}.png" for name in written["plots"]}
    assert render_markdown(again, relative) == written["md"]
    for name in ("roc", "calibration", "shap_summary", "backtest"):
        figure = PLOTS[name](again)
        assert figure is not None
        path = save(figure, tmp_path / f"{name}.png")
        assert path.read_bytes() == written["plots"][name].read_bytes()


def test_rendering_is_pure(inputs: ReportInputs) -> None:
    assert render_markdown(inputs, {}) == render_markdown(inputs, {})
    assert "<img" not in render_html(inputs, {})
    assert [s.number for s in card_sections(inputs)] == list(range(1, 10))


def test_findings_flag_small_tests_and_unstable_backtests(inputs: ReportInputs) -> None:
    metrics = dict(inputs.metrics)
    metrics["test"] = {**metrics["test"], "n": 300, "positives": 20}
    metrics["backtest"] = {
        **metrics["backtest"],
        "verdict": "unstable",
        "reasons": ["scores have shifted: PSI 0.400 is above 0.25"],
    }
    text = " ".join(findings(metrics, inputs.card))
    assert "Small test set" in text and "±" in text
    assert "unstable" in text and "PSI 0.400" in text
    none = findings({**metrics, "backtest": {"verdict": "none", "periods": []}}, {})
    assert any(item.startswith("No backtest window") for item in none)


def test_shap_bias_column_is_ignored(inputs: ReportInputs) -> None:
    from appliance.reports.plots import PLOTS as DRAW

    with_bias = inputs.shap_values
    without = replace(inputs, shap_values=with_bias[:, :-1])
    assert DRAW["shap_summary"](inputs) is not None and DRAW["shap_summary"](without) is not None


def test_swarm_offsets_are_deterministic_and_bounded() -> None:
    values = np.random.default_rng(0).normal(size=500)
    a, b = swarm_offsets(values), swarm_offsets(values)
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 0.38 + 1e-12
    assert swarm_offsets(np.zeros(3)).tolist() == [0.0, 0.38 / 8, -0.38 / 8]
    assert swarm_offsets(np.empty(0)).size == 0


def test_public_api_and_cheap_import() -> None:
    import appliance.reports as reports

    assert [n for n in reports.__all__ if not hasattr(reports, n)] == []
    code = (
        "import sys, appliance.reports\n"
        "heavy = ('numpy', 'matplotlib', 'jinja2', 'xgboost')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_backtest_periods_fall_back_to_the_arrays(inputs: ReportInputs) -> None:
    from appliance.reports._review_plots import backtest_periods

    recorded = backtest_periods(inputs)
    assert [p["start"] for p in recorded] == ["2023-11-01", "2023-12-01"]
    bare = replace(inputs, metrics={**inputs.metrics, "backtest": None})
    weekly = backtest_periods(bare)
    assert len(weekly) > len(recorded) and sum(p["n"] for p in weekly) == len(inputs.backtest_p)


def test_unregistered_version_and_sparse_metrics_still_render(
    inputs: ReportInputs, tmp_path: Path
) -> None:
    keep = ("usecase", "model", "test", "baseline_test")
    sparse = replace(
        inputs,
        metrics={k: inputs.metrics[k] for k in keep},
        card={**inputs.card, "version": None, "gates": None, "datasets": [], "features": []},
        backtest_dates=None,
        backtest_p=None,
        backtest_y=None,
    )
    plots = write_plots(tmp_path, sparse)
    assert {"roc", "pr", "calibration", "lift", "shap_summary"} <= set(plots)
    md, html = write_card(tmp_path, sparse, plots)
    text = md.read_text("utf-8")
    assert text.startswith("# Model card · thin_file_credit\n")
    assert "not yet registered" in text and "No backtest window" in text
    assert "Fairness verdict: not assessed" in text
    assert "9. Approvals" in html.read_text("utf-8")
