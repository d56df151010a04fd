"""Promotion gates: pure checks of a candidate version against the production one.

Everything is read from the candidate's ``metrics`` (the trainer's metrics.json) and its
``compile`` result; nothing touches the store or the disk. The keys the gates read:

- ``optimise``: the metric the run optimised (``roc_auc``, ``pr_auc``, ``ks``, ``r2``:
  higher is better; ``log_loss``, ``brier``, ``rmse``, ``mae``: lower is better)
- ``test``: ``{metric: value}`` on the candidate's test set
- ``champion``: ``{"version": n, "test": {metric: value}}``, the production model
  re-scored on the candidate's test set (absent when there was no production model)
- ``promotion``: ``{"tolerance": t}``, how much worse than the champion the candidate may be:
  in the metric's units, except for the error amounts ``rmse`` and ``mae``, where it is a
  share of the champion's error (0.02: at most 2 % larger)
- ``fairness``: ``{"passed": bool, ...}``
- ``backtest``: ``{"verdict": "stable" | "watch" | "unstable" | "none", ...}``
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.registry.records import ModelVersion

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "Gate", "GateReport", "evaluate_gates"]

HIGHER_IS_BETTER = ("roc_auc", "pr_auc", "ks", "r2")
LOWER_IS_BETTER = ("log_loss", "brier", "rmse", "mae")
RELATIVE_TOLERANCE = ("rmse", "mae")  # amounts in the target's currency or units
_EPSILON = 1e-12  # tolerance edges are inclusive despite float rounding


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str
    warning: bool = False
    """Passed, but a person should look (a backtest verdict of "watch")."""


@dataclass(frozen=True)
class GateReport:
    candidate: int
    production: int | None
    gates: tuple[Gate, ...]
    fairness_override: str | None = None
    """The override reason, when the fairness gate passed only because of it."""

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def failed(self) -> list[Gate]:
        return [gate for gate in self.gates if not gate.passed]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data, for the audit log."""
        return {
            "candidate": self.candidate,
            "production": self.production,
            "passed": self.passed,
            "gates": [
                {"name": g.name, "passed": g.passed, "warning": g.warning, "detail": g.detail}
                for g in self.gates
            ],
        }


def evaluate_gates(
    candidate: ModelVersion, production: ModelVersion | None, *, override_fairness: str | None
) -> GateReport:
    """Run every gate; the report passes only if each gate does."""
    override = override_fairness.strip() if override_fairness else None
    fairness = fairness_gate(candidate.metrics, override)
    gates = (
        performance_gate(candidate.metrics, production.version if production else None),
        fairness,
        compile_gate(candidate.compile),
        backtest_gate(candidate.metrics),
    )
    used = override if fairness.passed and not _fairness_passed(candidate.metrics) else None
    return GateReport(candidate.version, production.version if production else None, gates, used)


def performance_gate(metrics: Mapping[str, Any], production: int | None) -> Gate:
    name = "performance"
    if production is None:
        return Gate(name, True, "first production model")
    champion = metrics.get("champion")
    if not isinstance(champion, Mapping) or champion.get("version") != production:
        compared = champion.get("version") if isinstance(champion, Mapping) else None
        against = f"version {compared}" if compared is not None else "no production model"
        return Gate(name, False, (
            f"the candidate was compared with {against}, not production version {production}; "
            "retrain so the current production model is re-scored on the candidate's test set"
        ))  # fmt: skip
    metric = metrics.get("optimise")
    if metric not in HIGHER_IS_BETTER + LOWER_IS_BETTER:
        known = ", ".join(HIGHER_IS_BETTER + LOWER_IS_BETTER)
        return Gate(name, False, f"optimise metric {metric!r} is not one of {known}")
    ours = _number(metrics.get("test"), metric)
    theirs = _number(champion.get("test"), metric)
    if ours is None or theirs is None:
        return Gate(name, False, f"test {metric} missing or not a number for candidate/champion")
    tolerance = _number(metrics.get("promotion"), "tolerance")
    tolerance = 0.0 if tolerance is None else tolerance
    if tolerance < 0:
        return Gate(name, False, f"promotion tolerance {tolerance} must be >= 0")
    gain = ours - theirs if metric in HIGHER_IS_BETTER else theirs - ours
    allowed = tolerance * abs(theirs) if metric in RELATIVE_TOLERANCE else tolerance
    verdict = "better than" if gain > _EPSILON else "within tolerance of"
    passed = gain >= -allowed - _EPSILON
    if not passed:
        verdict = "worse than"
    return Gate(name, passed, (
        f"test {metric} {ours:.6g} vs production v{production} {theirs:.6g}: "
        f"{verdict} production (change {gain:+.6g}, tolerance {allowed:g})"
    ))  # fmt: skip


def fairness_gate(metrics: Mapping[str, Any], override: str | None) -> Gate:
    name = "fairness"
    if _fairness_passed(metrics):
        return Gate(name, True, "fairness checks passed")
    fairness = metrics.get("fairness")
    why = "fairness checks failed" if isinstance(fairness, Mapping) else "no fairness results"
    if override:
        return Gate(name, True, f"{why}; overridden: {override}", warning=True)
    return Gate(name, False, (
        f"{why} (see the model card); to promote anyway give --override-fairness REASON"
    ))  # fmt: skip


def compile_gate(compile_result: Mapping[str, Any] | None) -> Gate:
    """Blocks only a compiled library that disagrees with the booster. Without a library
    (never compiled, no compiler, a build error) XGBoost itself serves, which is correct
    but slower: the gate passes with a warning."""
    name = "compile"
    if compile_result is None:
        return Gate(name, True, "not compiled: XGBoost will serve (appliance models compile "
                                "builds the native library)", warning=True)  # fmt: skip
    status = compile_result.get("status")
    diff = compile_result.get("max_abs_diff")
    parity = f", max abs diff {diff:.3g}" if isinstance(diff, int | float) else ""
    if status == "ok":
        return Gate(name, True, f"compiled library matches the booster{parity}")
    if status == "unavailable":
        why = compile_result.get("reason") or "no compiled library"
        return Gate(name, True, f"XGBoost will serve: {why}", warning=True)
    why = compile_result.get("reason") or f"compilation status {status!r}{parity}"
    return Gate(name, False, f"{why}; the compiled library disagrees with the booster, "
                             "so this version cannot be promoted")  # fmt: skip


def backtest_gate(metrics: Mapping[str, Any]) -> Gate:
    name = "backtest"
    backtest = metrics.get("backtest")
    verdict = backtest.get("verdict") if isinstance(backtest, Mapping) else None
    if verdict == "stable":
        return Gate(name, True, "stable over the backtest window")
    if verdict == "none":
        return Gate(name, True, "no backtest window existed; stability not checked")
    if verdict == "watch":
        return Gate(name, True, "performance drifts over the backtest window; watch", warning=True)
    if verdict == "unstable":
        return Gate(name, False, "unstable over the backtest window")
    return Gate(name, False, f"backtest verdict {verdict!r} is not stable/watch/unstable/none")


def _fairness_passed(metrics: Mapping[str, Any]) -> bool:
    fairness = metrics.get("fairness")
    return isinstance(fairness, Mapping) and fairness.get("passed") is True


def _number(section: Any, key: str) -> float | None:
    value = section.get(key) if isinstance(section, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
