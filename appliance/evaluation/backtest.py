"""Backtest: does the model hold up week by week (or month by month) over a window?

Per period we report volume, outcomes, AUC and the score distribution; over the whole
window, AUC and PSI against the test set's scores. The verdict compares those with the
test set: *stable*, *watch*, *unstable*, or *none* when the window is empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from appliance.evaluation._checks import MetricError, as_labels, as_scores
from appliance.evaluation._serial import json_dict
from appliance.evaluation.metrics import psi, roc_auc

__all__ = ["Backtest", "Period", "PeriodStats", "Verdict", "stability"]

Period = Literal["week", "month"]
Verdict = Literal["stable", "watch", "unstable", "none"]


@dataclass(frozen=True)
class PeriodStats:
    """One ISO week (from Monday) or calendar month; outcome fields None without ``y``."""

    start: str
    """First day of the period, ISO ``YYYY-MM-DD``."""
    n: int
    positives: int | None
    positive_rate: float | None
    auc: float | None
    """None with fewer than ``min_rows`` rows or one class only."""
    mean_p: float
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class Backtest:
    """Per-period statistics, whole-window numbers and the verdict with its reasons."""

    period: Period
    n: int
    positives: int | None
    auc: float | None
    psi: float | None
    """Against ``reference_p``; None when it was not given."""
    reference_auc: float | None
    verdict: Verdict
    reasons: tuple[str, ...]
    periods: tuple[PeriodStats, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: tuples become lists."""
        return asdict(self, dict_factory=json_dict)


def stability(
    dates: ArrayLike,
    y: ArrayLike | None,
    p: ArrayLike,
    *,
    period: Period = "week",
    reference_p: ArrayLike | None = None,
    reference_auc: float | None = None,
    min_rows: int = 200,
    auc_tolerance: float = 0.05,
    psi_watch: float = 0.1,
    psi_unstable: float = 0.25,
) -> Backtest:
    """Backtest the scores ``p`` (outcomes ``y``, may be None) dated ``dates``.

    Unstable: PSI above ``psi_unstable``, or an assessable period's AUC more than
    ``2 * auc_tolerance`` below ``reference_auc``. Watch: PSI above ``psi_watch`` or a
    period AUC more than ``auc_tolerance`` below. Otherwise stable.
    """
    if period not in get_args(Period):
        raise MetricError(f"period must be one of {get_args(Period)}, got {period!r}")
    if not 0.0 <= psi_watch <= psi_unstable:
        raise MetricError(f"need 0 <= psi_watch <= psi_unstable, got {psi_watch}, {psi_unstable}")
    if auc_tolerance < 0:
        raise MetricError(f"auc_tolerance must not be negative, got {auc_tolerance}")
    days, labels, scores = _inputs(dates, y, p)
    if scores.size == 0:
        reason = "no rows in the window: nothing to backtest"
        return Backtest(period, 0, None, None, None, reference_auc, "none", (reason,), ())
    starts = _period_starts(days, period)
    periods = tuple(_periods(starts, labels, scores, min_rows))
    auc = _auc(labels, scores, min_rows)
    drift = None if reference_p is None else psi(reference_p, scores)
    verdict, reasons = _verdict(
        periods, period, drift, reference_auc, auc_tolerance, psi_watch, psi_unstable
    )
    return Backtest(
        period=period,
        n=int(scores.size),
        positives=None if labels is None else int(labels.sum()),
        auc=auc,
        psi=drift,
        reference_auc=reference_auc,
        verdict=verdict,
        reasons=tuple(reasons),
        periods=periods,
    )


def _inputs(
    dates: ArrayLike, y: ArrayLike | None, p: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.int64] | None, NDArray[np.float64]]:
    """Days since 1970-01-01, labels (or None) and scores, all checked and aligned."""
    raw = np.asarray(dates)
    if raw.ndim != 1:
        raise MetricError(f"dates must be a 1-D array, got shape {raw.shape}")
    try:
        day = raw.astype("datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise MetricError(f"dates must be dates (datetime64[D]), got dtype {raw.dtype}") from exc
    if np.isnat(day).any():
        raise MetricError(f"dates has {int(np.isnat(day).sum())} missing value(s) (NaT)")
    scores = as_scores(p)
    labels = None if y is None else as_labels(y)
    sizes = {day.size, scores.size} | ({labels.size} if labels is not None else set())
    if len(sizes) > 1:
        raise MetricError(f"dates, y and p must have one value per row; got sizes {sorted(sizes)}")
    return day.astype(np.int64), labels, scores


def _period_starts(days: NDArray[np.int64], period: Period) -> NDArray[np.int64]:
    """The first day of each row's ISO week (Monday) or calendar month, as days."""
    if period == "week":
        return days - (days + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    return month.astype("datetime64[D]").astype(np.int64)


def _periods(
    starts: NDArray[np.int64],
    labels: NDArray[np.int64] | None,
    scores: NDArray[np.float64],
    min_rows: int,
) -> list[PeriodStats]:
    order = np.argsort(starts, kind="stable")
    bounds = np.flatnonzero(np.diff(starts[order])) + 1
    out = []
    for rows in np.split(order, bounds):
        ys = None if labels is None else labels[rows]
        ps = scores[rows]
        p10, p50, p90 = np.quantile(ps, [0.1, 0.5, 0.9])
        positives = None if ys is None else int(ys.sum())
        out.append(
            PeriodStats(
                start=str(np.datetime64(int(starts[rows[0]]), "D")),
                n=int(rows.size),
                positives=positives,
                positive_rate=None if positives is None else positives / rows.size,
                auc=_auc(ys, ps, min_rows),
                mean_p=float(ps.mean()),
                p10=float(p10),
                p50=float(p50),
                p90=float(p90),
            )
        )
    return out


def _auc(
    labels: NDArray[np.int64] | None, scores: NDArray[np.float64], min_rows: int
) -> float | None:
    if labels is None or labels.size < min_rows or labels.min() == labels.max():
        return None
    return roc_auc(labels, scores)


def _verdict(
    periods: tuple[PeriodStats, ...],
    period: Period,
    drift: float | None,
    reference_auc: float | None,
    tolerance: float,
    psi_watch: float,
    psi_unstable: float,
) -> tuple[Verdict, list[str]]:
    """The worst finding's level, and the reasons: every problem, or why all is well."""
    findings = _psi_findings(drift, psi_watch, psi_unstable)
    findings += _auc_findings(periods, period, reference_auc, tolerance)
    problems = [text for level, text in findings if level != "stable"]
    if any(level == "unstable" for level, _ in findings):
        return "unstable", problems
    if problems:
        return "watch", problems
    return "stable", [text for _, text in findings]


def _psi_findings(
    drift: float | None, psi_watch: float, psi_unstable: float
) -> list[tuple[Verdict, str]]:
    if drift is None:
        return [("stable", "no reference scores given: score drift (PSI) not checked")]
    if drift > psi_unstable:
        return [("unstable", f"scores have shifted: PSI {drift:.3f} is above {psi_unstable:g}")]
    if drift > psi_watch:
        return [("watch", f"scores are drifting: PSI {drift:.3f} is above {psi_watch:g}")]
    return [("stable", f"score distribution steady: PSI {drift:.3f} is at most {psi_watch:g}")]


def _auc_findings(
    periods: tuple[PeriodStats, ...],
    period: Period,
    reference_auc: float | None,
    tolerance: float,
) -> list[tuple[Verdict, str]]:
    assessed = [(s.start, s.auc) for s in periods if s.auc is not None]
    if reference_auc is None:
        return [("stable", "no reference AUC given: period AUCs not compared")]
    if not assessed:
        return [("stable", f"no {period} had enough rows with both outcomes to measure AUC")]
    out: list[tuple[Verdict, str]] = []
    for start, auc in assessed:
        gap = reference_auc - auc
        text = f"{period} of {start}: AUC {auc:.3f} is {gap:.3f} below the test AUC"
        text = f"{text} {reference_auc:.3f}"
        if gap > 2 * tolerance:
            out.append(("unstable", f"{text} (limit {2 * tolerance:g})"))
        elif gap > tolerance:
            out.append(("watch", f"{text} (limit {tolerance:g})"))
    if not out:
        text = f"all {len(assessed)} assessable {period}(s) within {tolerance:g} of the test AUC"
        out.append(("stable", f"{text} {reference_auc:.3f}"))
    return out
