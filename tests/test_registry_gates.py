"""The promotion gates are pure: built from ModelVersion values, no store, no files."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.registry import Gate, GateReport, ModelVersion, evaluate_gates


def version(
    number: int = 2,
    metrics: dict[str, Any] | None = None,
    compile_result: dict[str, Any] | None = None,
) -> ModelVersion:
    return ModelVersion(
        model="credit", version=number, created_at="2024-05-01T00:00:00+00:00",
        trained_at="2024-05-01T00:00:00+00:00", duration_s=1.0,
        booster_path=f"models/credit/{number}/model.ubj", booster_sha256="0" * 64,
        booster_format="ubj", params={}, metrics=metrics or {}, feature_schema={}, datasets=[],
        spec={}, spec_sha256="0" * 64, code_version="0.1.0", seed=1, reference={},
        card_path=None, compile=compile_result, status="registered",
    )  # fmt: skip


def metrics(
    optimise: str = "roc_auc",
    ours: float = 0.80,
    theirs: float | None = 0.80,
    champion_version: int = 1,
    tolerance: float | None = 0.01,
    fairness: Any = True,
    verdict: Any = "stable",
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "optimise": optimise,
        "test": {optimise: ours},
        "fairness": {"passed": fairness},
        "backtest": {"verdict": verdict},
    }
    if theirs is not None:
        result["champion"] = {"version": champion_version, "test": {optimise: theirs}}
    if tolerance is not None:
        result["promotion"] = {"tolerance": tolerance}
    return result


def gate(report: GateReport, name: str) -> Gate:
    return next(g for g in report.gates if g.name == name)


def run(candidate_metrics: dict[str, Any], production: int | None = 1, **kw: Any) -> GateReport:
    current = version(production) if production is not None else None
    return evaluate_gates(
        version(2, candidate_metrics, kw.get("compile_result")),
        current,
        override_fairness=kw.get("override"),
    )


def test_all_gates_pass_for_a_good_candidate() -> None:
    report = run(metrics(ours=0.82))
    assert report.passed and report.failed == []
    assert [g.name for g in report.gates] == ["performance", "fairness", "compile", "backtest"]
    assert "better than" in gate(report, "performance").detail
    assert report.as_dict()["candidate"] == 2 and report.as_dict()["production"] == 1


def test_the_first_production_model_needs_no_champion() -> None:
    report = run(metrics(theirs=None), production=None)
    assert gate(report, "performance") == Gate("performance", True, "first production model")


@pytest.mark.parametrize(
    ("optimise", "ours", "theirs", "passed"),
    [
        ("roc_auc", 0.79, 0.80, True),  # exactly at the tolerance edge
        ("roc_auc", 0.7899, 0.80, False),  # just past it
        ("pr_auc", 0.61, 0.60, True),
        ("ks", 0.3, 0.4, False),
        ("log_loss", 0.31, 0.30, True),  # lower is better: at the edge
        ("log_loss", 0.3101, 0.30, False),
        ("brier", 0.10, 0.20, True),
        ("brier", 0.20, 0.10, False),
    ],
)
def test_performance_compares_with_the_champion_within_tolerance(
    optimise: str, ours: float, theirs: float, passed: bool
) -> None:
    result = gate(run(metrics(optimise, ours, theirs, tolerance=0.01)), "performance")
    assert result.passed is passed
    assert ("worse than" in result.detail) is not passed


def test_no_tolerance_means_no_worse_than_production() -> None:
    assert gate(run(metrics(ours=0.80, tolerance=None)), "performance").passed
    assert not gate(run(metrics(ours=0.7999, tolerance=None)), "performance").passed


@pytest.mark.parametrize(
    ("candidate", "detail"),
    [
        (metrics(theirs=None), "compared with no production model"),
        (metrics(champion_version=3), "compared with version 3, not production version 1"),
        (metrics(optimise="accuracy"), "not one of"),
        (metrics(tolerance=-0.1), "must be >= 0"),
        ({**metrics(), "test": {}}, "missing or not a number"),
    ],
)
def test_performance_fails_without_a_valid_champion_comparison(
    candidate: dict[str, Any], detail: str
) -> None:
    result = gate(run(candidate), "performance")
    assert not result.passed and detail in result.detail


def test_fairness_fails_unless_overridden() -> None:
    failed = run(metrics(fairness=False))
    assert not failed.passed and [g.name for g in failed.failed] == ["fairness"]
    assert "--override-fairness" in gate(failed, "fairness").detail
    overridden = run(metrics(fairness=False), override="board approved, ticket 7")
    assert overridden.passed and overridden.fairness_override == "board approved, ticket 7"
    assert "overridden: board approved, ticket 7" in gate(overridden, "fairness").detail


def test_an_unneeded_or_blank_override_is_not_recorded() -> None:
    assert run(metrics(), override="just in case").fairness_override is None
    assert not run(metrics(fairness=False), override="   ").passed
    missing = {k: v for k, v in metrics().items() if k != "fairness"}
    assert "no fairness results" in gate(run(missing), "fairness").detail


@pytest.mark.parametrize(
    ("compile_result", "passed", "warning", "detail"),
    [
        (None, True, True, "not compiled: XGBoost will serve"),
        ({"status": "ok", "max_abs_diff": 1e-7}, True, False, "max abs diff 1e-07"),
        ({"status": "unavailable", "reason": "no working C compiler"}, True, True,
         "XGBoost will serve: no working C compiler"),
        ({"status": "failed", "max_abs_diff": 0.2}, False, False, "cannot be promoted"),
    ],
)
def test_compile_gate(
    compile_result: dict[str, Any] | None, passed: bool, warning: bool, detail: str
) -> None:
    result = gate(run(metrics(), compile_result=compile_result), "compile")
    assert (result.passed, result.warning) == (passed, warning) and detail in result.detail


@pytest.mark.parametrize(
    ("verdict", "passed", "warning", "detail"),
    [
        ("stable", True, False, "stable"),
        ("none", True, False, "no backtest window existed"),
        ("watch", True, True, "watch"),
        ("unstable", False, False, "unstable"),
        (None, False, False, "not stable/watch/unstable/none"),
    ],
)
def test_backtest_gate(verdict: Any, passed: bool, warning: bool, detail: str) -> None:
    result = gate(run(metrics(verdict=verdict)), "backtest")
    assert (result.passed, result.warning) == (passed, warning) and detail in result.detail


def test_every_failure_is_listed() -> None:
    report = run(
        metrics(ours=0.5, fairness=False, verdict="unstable"),
        compile_result={"status": "failed"},
    )
    assert [g.name for g in report.failed] == ["performance", "fairness", "compile", "backtest"]
    assert report.as_dict()["passed"] is False
