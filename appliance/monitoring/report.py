"""The monitoring report: one self-contained HTML page per use case.

``report_content`` (pure) turns stored results into sections of formatted tables and
plot data; ``render_html`` draws the plots (inline PNG data URIs) and lays the page out
with ``report.html.j2``; ``write_report`` reads the store and writes the file
atomically. No external assets: CSS inline, images inline, no script.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.monitoring.alerts import Alert, list_alerts
from appliance.monitoring.bands import Band
from appliance.monitoring.drift import SCORE

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.home import DataHome
    from appliance.usecase.spec import UseCaseSpec

__all__ = ["Section", "render_html", "report_content", "write_report"]

DASH = "–"


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    plot: tuple[str, dict[str, Any]] | None = None
    """(plot function name in ``plots``, its keyword arguments)."""
    levels: tuple[str, ...] = field(default=())
    """Per row, a traffic-light class for the row (``act``, ``watch``, ``stable``, "")."""


def _num(value: Any, digits: int = 3) -> str:
    return DASH if value is None else f"{float(value):.{digits}f}"


def _pct(value: Any) -> str:
    return DASH if value is None else f"{float(value):.1%}"


def _latest(rows: Sequence[Mapping[str, Any]]) -> tuple[str, int] | None:
    if not rows:
        return None
    last = max(rows, key=lambda r: (r["window_start"], r["version"]))
    return str(last["window_start"]), int(last["version"])


def _labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({str(r["window_start"]) for r in rows})


def drift_sections(
    drift: Sequence[Mapping[str, Any]], psi_band: Band, score_reference: Mapping[str, Any] | None
) -> list[Section]:
    """Drift over time, the latest window's table and the score distribution."""
    if not drift:
        return [Section("Drift", ("No drift has been measured for this window kind yet: run "
                                  "`appliance drift USECASE`.",))]  # fmt: skip
    labels = _labels(drift)
    psi = {(r["window_start"], r["feature"]): r["value"] for r in drift if r["metric"] == "psi"}
    levels = {(r["window_start"], r["feature"]): r["level"] for r in drift if r["metric"] == "psi"}
    features = sorted({f for _, f in psi})
    flagged = [f for f in features if f == SCORE or any(
        levels.get((w, f)) in ("watch", "act") for w in labels)]  # fmt: skip
    series = {f: [psi.get((w, f)) for w in labels] for f in flagged[:12]}
    window, version = _latest(drift) or ("", 0)
    latest = [r for r in drift if r["window_start"] == window and r["version"] == version]
    by_feature: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in latest:
        by_feature.setdefault(r["feature"], {})[r["metric"]] = r
    order = sorted(by_feature, key=lambda f: -(by_feature[f].get("psi", {}).get("value") or 0))
    rows, row_levels = [], []
    for f in order:
        m = by_feature[f]
        level = _worst(x.get("level") for x in m.values())
        v = {k: m[k].get("value") for k in m}
        rows.append((f, _num(v.get("psi")), _num(v.get("js")), _num(v.get("ks")),
                     _num(v.get("ks_p"), 4), _num(v.get("wasserstein")),
                     _signed_pct(v.get("missing_change")), _pct(v.get("unseen_share")),
                     level or DASH))  # fmt: skip
        row_levels.append(level or "")
    over_time = (
        f"PSI of each feature against the training reference, per window; bands: stable "
        f"below {psi_band.watch:g}, watch up to {psi_band.act:g}, act above. Lines: the "
        f"score and every feature that reached watch or act ({len(flagged)} of "
        f"{len(features)})."
    )
    plot = {"labels": labels, "series": series, "watch": psi_band.watch, "act": psi_band.act}
    headers = ("Feature", "PSI", "JS", "KS", "KS p", "Wasserstein", "Missing change", "Unseen",
               "Level")  # fmt: skip
    out = [
        Section("Drift over time", (over_time,), plot=("drift_plot", plot)),
        Section(f"Latest window: {window} (version {version})", (
            "Distances on the values the model sees (after clipping, log and binning); "
            "missing change and unseen share from the values as logged.",),
            headers, tuple(rows), levels=tuple(row_levels)),
    ]
    score = [r for r in latest if r["feature"] == SCORE and r["metric"] == "psi"]
    if score_reference and score and "window_shares" in (score[0].get("detail") or {}):
        out.append(_score_section(score_reference, score[0], window))
    return out


def _score_section(reference: Mapping[str, Any], row: Mapping[str, Any], window: str) -> Section:
    edges = list(reference.get("edges") or [])
    bounds = ["low", *[f"{e:.3f}" for e in edges], "high"]
    bins = [f"{a}–{b}" for a, b in pairwise(bounds)]
    shares = list(row["detail"]["window_shares"])
    return Section("Score distribution now vs reference", (
        f"Share of predictions per band of the reference's score deciles, window {window}; "
        f"PSI {_num(row['value'])}.",), plot=("score_plot", {
            "bins": bins, "reference": list(reference.get("frequencies") or []),
            "current": shares, "label": f"window {window}"}))  # fmt: skip


def performance_sections(performance: Sequence[Mapping[str, Any]]) -> list[Section]:
    if not performance:
        return [Section("Performance", ("No performance has been measured for this window kind "
                                        "yet: run `appliance monitor USECASE`.",))]  # fmt: skip
    labels = _labels(performance)

    def line(metric: str, estimated: int) -> list[float | None]:
        found = {r["window_start"]: r["value"] for r in performance
                 if r["metric"] == metric and r["estimated"] == estimated}  # fmt: skip
        return [found.get(w) for w in labels]

    lines = {
        "ROC AUC (realised)": line("roc_auc", 0),
        "ROC AUC (estimated)": line("roc_auc", 1),
        "bad rate (realised)": line("bad_rate", 0),
        "bad rate (estimated)": line("bad_rate", 1),
        "approval rate": line("approval_rate", 0),
    }
    rows = []
    for w in labels:
        here = {(r["metric"], r["estimated"]): r for r in performance if r["window_start"] == w}
        first = next(iter(here.values()))
        drop = here.get(("auc_drop", 0), {})
        rows.append((w, f"{first['rows']:,}", f"{first['labelled']:,}",
                     _pct((here.get(("approval_rate", 0)) or {}).get("value")),
                     _num((here.get(("roc_auc", 0)) or {}).get("value")),
                     _num((here.get(("roc_auc", 1)) or {}).get("value")) + " (est.)",
                     _pct((here.get(("bad_rate", 0)) or {}).get("value")),
                     _pct((here.get(("bad_rate", 1)) or {}).get("value")) + " (est.)",
                     _num(drop.get("value")), drop.get("level") or DASH))  # fmt: skip
    return [Section("Performance over time", (
        "Realised figures need outcomes; until enough have matured each window shows what a "
        "calibrated model expects from its own scores, marked (est.).",),
        ("Window", "Rows", "Labelled", "Approval", "AUC", "AUC expected", "Bad rate",
         "Bad rate expected", "AUC drop", "Level"), tuple(rows),
        plot=("performance_plot", {"labels": labels, "lines": lines}),
        levels=tuple(str(r[-1]) if r[-1] != DASH else "" for r in rows))]  # fmt: skip


def fairness_sections(fairness: Sequence[Mapping[str, Any]]) -> list[Section]:
    if not fairness:
        why = ("No fairness results yet (the use case names no protected attribute, or "
               "`appliance monitor` has not run).")  # fmt: skip
        return [Section("Fairness", (why,))]
    labels = _labels(fairness)
    attributes: dict[str, dict[str, list[float | None]]] = {}
    for r in fairness:
        groups = attributes.setdefault(r["attribute"], {})
        groups.setdefault(r["group_name"], [None] * len(labels))
        groups[r["group_name"]][labels.index(r["window_start"])] = r["approval_rate"]
    rows, levels = [], []
    for w in labels:
        for attribute in sorted(attributes):
            here = [r for r in fairness if r["window_start"] == w and r["attribute"] == attribute]
            if not here:
                continue
            passed = here[0]["four_fifths_pass"]
            ratio = min((r["impact_ratio"] for r in here if r["impact_ratio"] is not None),
                        default=None)  # fmt: skip
            shares = ", ".join(f"{r['group_name']} {_pct(r['approval_rate'])} (n={r['rows']})"
                               for r in here)  # fmt: skip
            verdict = DASH if passed is None else ("pass" if passed else "FLAGGED")
            rows.append((w, attribute, _num(ratio, 2), verdict, shares))
            levels.append("" if passed is None else ("stable" if passed else "act"))
    return [Section("Fairness over time", (
        "Approval rate per protected group; disparate impact is the lowest over the highest "
        "approval rate among groups large enough to assess, screened against four fifths "
        "(0.8). A flagged attribute is an alert, never averaged away.",),
        ("Window", "Attribute", "Disparate impact", "4/5ths", "Groups"), tuple(rows),
        plot=("fairness_plot", {"labels": labels, "attributes": attributes}),
        levels=tuple(levels))]  # fmt: skip


def skew_section(skew: Sequence[Mapping[str, Any]]) -> list[Section]:
    mismatch = [r for r in skew if r["metric"] == "skew_mismatch"]
    if not mismatch:
        return []
    window, version = _latest(mismatch) or ("", 0)
    latest = sorted((r for r in mismatch if r["window_start"] == window and
                     r["version"] == version), key=lambda r: -(r["value"] or 0))  # fmt: skip
    rows = tuple((r["feature"], _pct(r["value"]), f"{r['rows']:,}", r["level"] or DASH)
                 for r in latest)  # fmt: skip
    return [Section(f"Training-serving skew, window {window}", (
        "Share of checked predictions whose served feature differs from the same row's "
        "feature rebuilt offline from the lake by the training pipeline.",),
        ("Feature", "Mismatch", "Rows checked", "Level"), rows,
        levels=tuple(r[-1] if r[-1] != DASH else "" for r in rows))]  # fmt: skip


def alerts_section(alerts: Sequence[Alert]) -> Section:
    rows = tuple((str(a.id), a.created_at[:16].replace("T", " "), a.level, a.kind, a.message,
                  "yes" if a.retrain_requested else "", a.delivered_at[:16] if a.delivered_at
                  else (a.delivery_error or DASH)) for a in alerts)  # fmt: skip
    return Section("Alerts", (f"The newest {len(alerts)} alerts (deduplicated per model "
                              "version, metric and window).",) if alerts else
                   ("No alerts.",), ("#", "Created", "Level", "Kind", "What", "Retrain",
                                     "Delivered"), rows,
                   levels=tuple(a.level for a in alerts))  # fmt: skip


def report_content(
    *, drift: Sequence[Mapping[str, Any]], skew: Sequence[Mapping[str, Any]],
    performance: Sequence[Mapping[str, Any]], fairness: Sequence[Mapping[str, Any]],
    alerts: Sequence[Alert], psi_band: Band, score_reference: Mapping[str, Any] | None,
) -> list[Section]:  # fmt: skip
    """Every section of the report, in order."""
    return [
        *drift_sections(drift, psi_band, score_reference),
        *skew_section(skew),
        *performance_sections(performance),
        *fairness_sections(fairness),
        alerts_section(alerts),
    ]


def render_html(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    """The page: plots drawn now, as data URIs."""
    from importlib import resources

    import jinja2

    from appliance.monitoring import plots

    images = [getattr(plots, s.plot[0])(**s.plot[1]) if s.plot else None for s in sections]
    text = resources.files("appliance.monitoring").joinpath("report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    return env.from_string(text).render(title=title, facts=facts,
                                        sections=list(zip(sections, images, strict=True)))


def write_report(
    home: DataHome, db: Database, spec: UseCaseSpec, window_kind: str, psi_band: Band,
    out: Path | None = None,
) -> Path:  # fmt: skip
    """Write the use case's report (default ``publish/monitoring/<usecase>.html``)."""
    from appliance.lake import replace_atomically
    from appliance.monitoring import store
    from appliance.monitoring.errors import MonitoringError
    from appliance.registry import get_version
    from appliance.store.db import now_iso

    model = spec.model_name
    drift = store.drift_history(db, model, window_kind)
    latest = _latest(drift)
    score_reference = None
    if latest is not None:
        score_reference = get_version(db, model, latest[1]).reference.get("score")
    sections = report_content(
        drift=drift, skew=store.drift_history(db, model, window_kind, kind="skew"),
        performance=store.performance_history(db, model, window_kind),
        fairness=store.fairness_history(db, model, window_kind),
        alerts=list_alerts(db, model, limit=50), psi_band=psi_band,
        score_reference=score_reference,
    )  # fmt: skip
    facts = [("Use case", spec.name), ("Model", model), ("Window", window_kind),
             ("Written", now_iso()[:19].replace("T", " ") + " UTC")]  # fmt: skip
    html = render_html(f"Monitoring · {spec.name}", facts, sections)
    target = out or home.dir("publish") / "monitoring" / f"{spec.name}.html"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        replace_atomically(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MonitoringError(f"cannot write the report {target}: {exc.strerror or exc}") from exc
    return target


def _worst(levels: Any) -> str | None:
    order = ("stable", "watch", "act")
    found = [x for x in levels if x in order]
    return max(found, key=order.index) if found else None


def _signed_pct(value: Any) -> str:
    return DASH if value is None else f"{float(value):+.1%}"
