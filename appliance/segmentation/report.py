"""The segmentation report: plots and one self-contained HTML page per version.

Built like the model card (``appliance.reports``): ``report_sections`` turns the profile
into sections of formatted blocks (pure), ``write_plots`` draws the PNGs with the
card's drawing helpers, and ``write_report`` lays everything out with the card's HTML
template, plots inlined as data URIs: no external asset, nothing fetched.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ApplianceError
from appliance.reports import _format as f
from appliance.reports._blocks import Facts, Figure, Para, Section, table
from appliance.segmentation.profile import SegmentProfile

__all__ = ["PLOT_FILES", "REPORT_FILE", "ReportFacts", "report_sections", "write_plots",
           "write_report"]  # fmt: skip

REPORT_FILE = "report.html"
PLOT_FILES = {
    "sizes": "segment_sizes.png",
    "profile": "segment_profile.png",
    "silhouette": "silhouette_by_k.png",
}


@dataclass(frozen=True)
class ReportFacts:
    """Identity of the segmentation the report describes."""

    usecase: str
    version: int | None
    scaling: str
    algorithm: str
    silhouette: Mapping[int, float | None]
    k: int
    trained_at: str
    duration_s: float
    artifact_sha256: str
    sklearn_version: str
    notes: tuple[str, ...] = ()
    """Why a model's column is missing, and similar remarks."""


def report_sections(facts: ReportFacts, profile: SegmentProfile) -> list[Section]:
    """The report's content: segments, profile, choice of k, predictions, use."""
    sections = [
        Section(1, "Segments", (
            Para("Each segment's rows and share of the population, the features that set it "
                 "apart most (|z| of 0.25 or more), and the production models' mean "
                 "predictions where there are any."),
            _segments_table(profile),
            Figure("sizes", "Share of the population rows in each segment."),
        )),
        Section(2, "Profile", (
            Para("Mean of each feature per segment, with its z-score: the distance from the "
                 "population mean in population standard deviations (missing values left "
                 "out). The heatmap shows the z-scores, clipped to ±2."),
            _profile_table(profile),
            Figure("profile", "Standardized feature means per segment."),
        )),
        Section(3, "Choosing the number of segments", (
            Para(_choice(facts)),
            table(("segments (k)", "mean silhouette"),
                  [(str(k), f.measure(v)) for k, v in sorted(facts.silhouette.items())]),
            Figure("silhouette", "Mean silhouette on the sample by number of segments."),
        )),
        Section(4, "Model predictions per segment", _prediction_blocks(facts, profile)),
    ]  # fmt: skip
    return sections


def _summary(facts: ReportFacts, profile: SegmentProfile) -> str:
    best = facts.silhouette.get(facts.k)
    return (
        f"**{profile.k} segments** of {f.count(profile.rows)} population rows on "
        f"{len(profile.names)} features ({facts.scaling} scaling, {facts.algorithm}); mean "
        f"silhouette {f.measure(best)}. Segment 0 is the largest."
    )


def _segments_table(profile: SegmentProfile) -> Any:
    labels = list(profile.predictions)
    rows = []
    for i in range(profile.k):
        rows.append((
            str(i), f.count(int(profile.sizes[i])), f.pct(float(profile.shares[i])),
            ", ".join(profile.distinctive(i)) or "close to the population",
            *(_value(profile.predictions[label][0][i]) for label in labels),
        ))  # fmt: skip
    headers = ("segment", "rows", "share", "sets it apart", *labels)
    numeric = (False, True, True, False, *(True,) * len(labels))
    return table(headers, rows, numeric)


def _profile_table(profile: SegmentProfile) -> Any:
    headers = ("feature", "population", *(f"segment {i}" for i in range(profile.k)))
    rows = []
    for j, name in enumerate(profile.names):
        cells = [f"{_value(profile.means[i, j])} ({f.signed(profile.z[i, j], 2)})"
                 for i in range(profile.k)]  # fmt: skip
        rows.append((f"`{name}`", _value(profile.population_mean[j]), *cells))
    return table(headers, rows)


def _choice(facts: ReportFacts) -> str:
    ks = sorted(facts.silhouette)
    if len(ks) == 1:
        return (f"The spec fixes {facts.k} segments; the silhouette (from -1 to 1, higher is "
                "better separated) is measured for reference.")  # fmt: skip
    return (f"The spec asks for {ks[0]} to {ks[-1]} segments; each was fitted and {facts.k} "
            "has the highest mean silhouette (from -1 to 1: how much closer each row is to "
            "its own segment than to the next one) on the sample.")  # fmt: skip


def _prediction_blocks(facts: ReportFacts, profile: SegmentProfile) -> tuple[Any, ...]:
    blocks: list[Any] = []
    if profile.predictions:
        labels = list(profile.predictions)
        rows = [(str(i), *(_value(profile.predictions[lb][0][i]) for lb in labels))
                for i in range(profile.k)]  # fmt: skip
        rows.append(("population", *(_value(profile.predictions[lb][1]) for lb in labels)))
        blocks.append(Para("Each production model scored every population row; the means "
                           "per segment are below."))  # fmt: skip
        blocks.append(table(("segment", *labels), rows))
    else:
        blocks.append(Para("No production model scored the population, so no propensity or "
                           "amount is shown per segment."))  # fmt: skip
    if facts.notes:
        blocks.append(Para(" ".join(facts.notes)))
    return tuple(blocks)


def _value(value: Any) -> str:
    if value is None:
        return f.DASH
    v = float(value)
    if not np.isfinite(v):
        return f.DASH
    digits = 3 if abs(v) < 1 else 2 if abs(v) < 100 else 1 if abs(v) < 1000 else 0
    return f"{v:,.{digits}f}"


def write_plots(
    out: Path, profile: SegmentProfile, silhouette: Mapping[int, float | None]
) -> dict[str, Path]:
    """Draw the PNGs into ``out``; returns plot name -> path (silhouette only for a range)."""
    from appliance.reports import _draw

    paths = {"sizes": _draw.save(_sizes(profile), out / PLOT_FILES["sizes"]),
             "profile": _draw.save(_heatmap(profile), out / PLOT_FILES["profile"])}  # fmt: skip
    if len(silhouette) > 1:
        paths["silhouette"] = _draw.save(_silhouette(silhouette), out / PLOT_FILES["silhouette"])
    return paths


def _sizes(profile: SegmentProfile) -> Any:
    from appliance.reports import _draw

    fig = _draw.figure(6.0, 0.45 * profile.k + 1.2)
    ax = fig.add_subplot()
    y = np.arange(profile.k)
    ax.barh(y, profile.shares, color=_draw.BLUE)
    ax.set_yticks(y, [f"segment {i}" for i in range(profile.k)])
    ax.invert_yaxis()
    for i, share in enumerate(profile.shares):
        ax.text(share, i, f" {share:.1%}", va="center", fontsize=8, color=_draw.INK)
    _draw.percent_axis(ax.xaxis)
    _draw.tidy(ax, "Segment sizes")
    return fig


def _heatmap(profile: SegmentProfile) -> Any:
    from appliance.reports import _draw

    d = len(profile.names)
    fig = _draw.figure(max(5.0, 0.7 * d + 2.0), 0.5 * profile.k + 2.2)
    ax = fig.add_subplot()
    z = np.clip(profile.z, -2, 2)
    image = ax.imshow(z, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(np.arange(d), [_draw.short(n, 32) for n in profile.names],
                  rotation=40, ha="right")  # fmt: skip
    ax.set_yticks(np.arange(profile.k), [f"segment {i}" for i in range(profile.k)])
    for i in range(profile.k):
        for j in range(d):
            ink = "white" if abs(z[i, j]) > 1.2 else _draw.INK
            ax.text(j, i, f"{profile.z[i, j]:+.1f}", ha="center", va="center", fontsize=7,
                    color=ink)  # fmt: skip
    fig.colorbar(image, ax=ax, shrink=0.8, label="z-score")
    _draw.tidy(ax, "Feature means per segment (z-scores)")
    return fig


def _silhouette(silhouette: Mapping[int, float | None]) -> Any:
    from appliance.reports import _draw

    ks = sorted(silhouette)
    values = np.array([np.nan if silhouette[k] is None else silhouette[k] for k in ks], float)
    fig = _draw.figure(5.0, 3.0)
    ax = fig.add_subplot()
    ax.plot(ks, values, marker="o", color=_draw.BLUE)
    best = ks[int(np.nanargmax(values))] if np.isfinite(values).any() else None
    if best is not None:
        ax.plot([best], [values[ks.index(best)]], marker="o", markersize=11, color=_draw.ORANGE,
                linestyle="none", label=f"chosen: k = {best}")  # fmt: skip
        ax.legend(fontsize=8, frameon=False)
    ax.set_xticks(ks)
    ax.set_xlabel("segments (k)", fontsize=9)
    ax.set_ylabel("mean silhouette", fontsize=9)
    _draw.tidy(ax, "Silhouette by number of segments")
    return fig


def write_report(
    out: Path, facts: ReportFacts, profile: SegmentProfile, plots: Mapping[str, Path]
) -> Path:
    """Write ``report.html`` into ``out`` (atomically) and return its path."""
    from appliance.lake import replace_atomically

    try:
        images = {name: _data_uri(path) for name, path in plots.items()}
        html = render_html(facts, profile, images)
        target = out / REPORT_FILE
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(html, encoding="utf-8")
        replace_atomically(tmp, target)
    except OSError as exc:
        raise ApplianceError(f"cannot write the segmentation report in {out}: {exc}") from exc
    return target


def render_html(facts: ReportFacts, profile: SegmentProfile, images: Mapping[str, str]) -> str:
    """The page, laid out by the model card's template (TOC, tables, inline figures)."""
    from importlib import resources

    import jinja2

    from appliance.reports.card import _html_inline

    template = resources.files("appliance.reports").joinpath("card.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters.update(inline=_html_inline, cell=str)
    version = f" v{facts.version}" if facts.version is not None else ""
    return env.from_string(template).render(
        title=f"Segments · {facts.usecase}{version}", facts=_facts(facts, profile),
        summary=Para(_summary(facts, profile)), sections=report_sections(facts, profile),
        images=images,
    )  # fmt: skip


def _facts(facts: ReportFacts, profile: SegmentProfile) -> Facts:
    items: Sequence[tuple[str, str]] = (
        ("Use case", f"`{facts.usecase}`"),
        ("Version", str(facts.version) if facts.version is not None else "not yet registered"),
        ("Segments", str(facts.k)),
        ("Features", ", ".join(f"`{n}`" for n in profile.names)),
        ("Scaling", facts.scaling),
        ("Algorithm", f"{facts.algorithm} (scikit-learn {facts.sklearn_version})"),
        ("Rows", f.count(profile.rows)),
        ("Trained at", facts.trained_at),
        ("Training time", f"{facts.duration_s:.1f} s"),
        ("Artifact SHA-256", f"`{facts.artifact_sha256}`"),
    )
    return Facts(tuple(items))


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
