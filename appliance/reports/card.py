"""The model card: one Markdown file and one self-contained HTML file per model version.

``card_sections`` is pure (inputs in, card content out); ``render_markdown`` and
``render_html`` lay that content out with the Jinja templates beside this module;
``write_card`` is the only I/O. The HTML has no external assets: CSS is inline and the
plots are PNG data URIs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.errors import ApplianceError
from appliance.reports import _format as f
from appliance.reports import regression
from appliance.reports._blocks import Facts, Para, Section
from appliance.reports._describe import data_section, methodology_section, purpose_section
from appliance.reports._fairness import fairness_section, fairness_verdict
from appliance.reports._governance import (
    approvals_section,
    explanations_section,
    monitoring_section,
)
from appliance.reports._limitations import limitations_section
from appliance.reports._performance import backtest_exists, performance_section

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "ModelCardError",
    "ReportInputs",
    "card_sections",
    "headline",
    "render_html",
    "render_markdown",
    "write_card",
]

MARKDOWN_FILE, HTML_FILE = "model_card.md", "model_card.html"


class ModelCardError(ApplianceError):
    """The model card or its plots could not be written where they were asked for."""


@dataclass(frozen=True)
class ReportInputs:
    """Everything the plots and the card are drawn from; the trainer fills it in."""

    metrics: dict[str, Any]
    """The metrics.json dict of the training run."""
    card: dict[str, Any]
    """Identity and lineage: model, version, datasets, features, limitations, gates."""
    y_test: np.ndarray
    """0/1 outcomes of the test rows."""
    p_test: np.ndarray
    """The model's probabilities on the test rows."""
    p_baseline_test: np.ndarray
    """The baseline's (logistic regression) probabilities on the test rows."""
    shap_values: np.ndarray
    """TreeSHAP contributions on a test sample, (rows, features); a bias column is ignored."""
    shap_features: np.ndarray
    """The encoded feature values of that sample, (rows, features)."""
    feature_names: list[str]
    backtest_dates: np.ndarray | None = None
    """datetime64[D] of the backtest rows; None when there is no backtest window."""
    backtest_p: np.ndarray | None = None
    backtest_y: np.ndarray | None = None


def headline(inputs: ReportInputs) -> tuple[str, Facts, Para]:
    """The card's title, its identity facts and a one-line summary of the verdicts."""
    m, c = inputs.metrics, inputs.card
    version = c.get("version")
    name = c.get("model") or m.get("model") or "model"
    title = f"Model card · {name} v{version}" if version is not None else f"Model card · {name}"
    facts = Facts(
        (
            ("Model", f"`{name}`"),
            ("Version", str(version) if version is not None else "not yet registered"),
            ("Use case", f"`{c.get('usecase') or m.get('usecase')}`"),
            ("Trained at", str(c.get("trained_at") or f.DASH)),
            (
                "Training time",
                f"{c['duration_s']:.1f} s" if c.get("duration_s") is not None else f.DASH,
            ),
            ("Code version", str(c.get("code_version") or f.DASH)),
            ("Booster SHA-256", f"`{c['booster_sha256']}`" if c.get("booster_sha256") else f.DASH),
            ("Seed", str(c.get("seed", f.DASH))),
            ("Owner", str(c.get("owner") or f.DASH)),
        )
    )
    if regression.is_regression(m):
        fairness = "passed" if (m.get("fairness") or {}).get("passed") else "flagged"
        return title, facts, Para(regression.headline_text(m, fairness))
    test, base = m.get("test") or {}, m.get("baseline_test") or {}
    back = (m.get("backtest") or {}).get("verdict") if backtest_exists(m) else "no window"
    summary = Para(
        f"Test ROC AUC **{f.measure(test.get('roc_auc'))}** (baseline "
        f"{f.measure(base.get('roc_auc'))}) · threshold "
        f"{f.threshold((m.get('threshold') or {}).get('value'))} · backtest: {back} · "
        f"fairness: {fairness_verdict(m.get('fairness') or {})}"
    )
    return title, facts, summary


def card_sections(inputs: ReportInputs) -> list[Section]:
    """The nine sections model-risk documentation expects (SR 11-7), in order."""
    m, c = inputs.metrics, inputs.card
    amounts = regression.is_regression(m)
    return [
        purpose_section(m, c),
        data_section(m, c),
        methodology_section(m, c),
        regression.performance_section(m) if amounts else performance_section(m),
        limitations_section(m, c),
        regression.fairness_section(m) if amounts else fairness_section(m),
        explanations_section(m, int(inputs.shap_values.shape[0])),
        monitoring_section(m, c),
        approvals_section(c),
    ]


def render_markdown(inputs: ReportInputs, images: Mapping[str, str]) -> str:
    """The card as Markdown; ``images`` maps plot names to paths relative to the file."""
    return _render("card.md.j2", inputs, images, autoescape=False).rstrip() + "\n"


def render_html(inputs: ReportInputs, images: Mapping[str, str]) -> str:
    """The card as one HTML page; ``images`` maps plot names to ``data:`` URIs."""
    return _render("card.html.j2", inputs, images, autoescape=True)


def write_card(out_dir: Path, inputs: ReportInputs, plots: dict[str, Path]) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``out_dir``; return both paths."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        relative = {k: Path(os.path.relpath(p, out_dir)).as_posix() for k, p in plots.items()}
        inline = {k: _data_uri(p) for k, p in plots.items()}
    except OSError as exc:
        raise ModelCardError(f"cannot read the plots for the model card: {exc}") from exc
    md = _write(out_dir / MARKDOWN_FILE, render_markdown(inputs, relative))
    html = _write(out_dir / HTML_FILE, render_html(inputs, inline))
    return md, html


def _render(name: str, inputs: ReportInputs, images: Mapping[str, str], *, autoescape: bool) -> str:
    from importlib import resources

    import jinja2

    text = resources.files("appliance.reports").joinpath(name).read_text("utf-8")
    env = jinja2.Environment(
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(cell=_md_cell, inline=_html_inline)
    title, facts, summary = headline(inputs)
    return env.from_string(text).render(
        title=title, facts=facts, summary=summary, sections=card_sections(inputs), images=images
    )


def _md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _html_inline(text: str) -> Any:
    """Escape ``text`` and turn its ``code`` and **bold** spans into HTML."""
    from markupsafe import Markup, escape

    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return Markup(_BOLD.sub(r"<strong>\1</strong>", html))


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _write(path: Path, text: str) -> Path:
    """Write through a temporary file and one rename, so a reader never sees half a card."""
    from appliance.lake import replace_atomically

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        replace_atomically(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ModelCardError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
