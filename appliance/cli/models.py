"""`appliance models list|show|compile|compare|promote|rollback|reject`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.registry import GateReport, ModelVersion

__all__ = ["command"]

ALIAS_CHOICES = ("production", "challenger", "shadow")  # appliance.registry.ALIASES, kept cheap


@click.group("models")
def command() -> None:
    """List, show, compare, promote, roll back and reject model versions."""


@command.command("list")
@pass_app
def list_models(app: AppContext) -> None:
    """Every model with its versions, aliases and key test metric."""
    from appliance import registry

    db = app.store()
    models = registry.list_models(db)
    if not models:
        click.echo("no models yet: `appliance train USECASE` trains and registers one")
    for model in models:
        held = _aliases_by_version(db, model.name)
        click.echo(f"{model.name}  (use case {model.usecase})  {model.description}".rstrip())
        for mv in registry.list_versions(db, model.name):
            metric, value = mv.key_metric()
            shown = f"{value:.4f}" if value is not None else "-"
            tags = ", ".join(held.get(mv.version, []))
            status = "  [rejected]" if mv.status == "rejected" else ""
            line = f"  v{mv.version:<4} {mv.created_at[:10]}  test {metric} {shown:<8} {tags}"
            click.echo(f"{line}{status}".rstrip())


@command.command("show")
@click.argument("name")
@click.argument("ref", required=False)
@pass_app
def show(app: AppContext, name: str, ref: str | None) -> None:
    """One version (REF: number, alias or 'latest'; default production, else latest):
    lineage, parameters, metrics, aliases, model card and gate status."""
    from appliance import registry

    db = app.store()
    named = registry.aliases(db, name)
    mv = registry.resolve(db, name, ref or ("production" if "production" in named else "latest"))
    tags = [a for a, v in named.items() if v == mv.version]
    click.echo(f"{name} v{mv.version}  {mv.status}" + (f"  ({', '.join(tags)})" if tags else ""))
    click.echo(f"  trained     {mv.trained_at} in {mv.duration_s:.1f} s, seed {mv.seed}")
    click.echo(f"  code        {mv.code_version}; spec sha256 {mv.spec_sha256}")
    click.echo(f"  booster     {mv.booster_path} ({mv.booster_format}, sha256 {mv.booster_sha256})")
    card = registry.card_file(app.home, mv)
    click.echo(f"  model card  {card if card else 'none'}")
    click.echo(f"  aliases     {_format_aliases(named)}")
    click.echo(f"  params      {_inline(mv.params)}")
    _show_metrics(mv)
    click.echo("  datasets")
    for ds in mv.datasets:
        span = f"  {ds.get('time_min')} .. {ds.get('time_max')}" if ds.get("time_min") else ""
        digest = ds.get("sha256") or ds.get("path") or ""
        click.echo(f"    {ds['name']} {ds['version']}  {ds.get('rows', '?')} rows  {digest}{span}")
    _show_gate_status(db, mv, named)


def _show_metrics(mv: ModelVersion) -> None:
    metrics = mv.metrics
    test = metrics.get("test")
    if isinstance(test, Mapping):
        click.echo(f"  test        {_inline(test)}  (optimised: {metrics.get('optimise', '?')})")
    champion = metrics.get("champion")
    if isinstance(champion, Mapping):
        click.echo(f"  champion    v{champion.get('version')} {_inline(champion.get('test', {}))}")
    fairness = metrics.get("fairness")
    if isinstance(fairness, Mapping):
        click.echo(f"  fairness    {'passed' if fairness.get('passed') is True else 'FAILED'}")
    backtest = metrics.get("backtest")
    if isinstance(backtest, Mapping):
        click.echo(f"  backtest    {backtest.get('verdict')}")
    click.echo(f"  compiled    {_compiled_line(mv.compile)}")


def _compiled_line(record: Mapping[str, Any] | None) -> str:
    if not record:
        return "not compiled: XGBoost serves (appliance models compile NAME VERSION)"
    if record.get("status") != "ok":
        return f"{record.get('status')}: {record.get('reason') or 'no reason recorded'}"
    batch = record.get("batch") or {}
    rates = batch.get("rows_per_s") or {}
    return (f"ok, {record.get('variant')} ({record.get('library')}): "
            f"{record.get('latency_us')} us per row, max |p - p_xgboost| "
            f"{_num(record.get('max_abs_diff'))}; batches via {batch.get('choice')} "
            f"({_inline(rates)} rows/s)")  # fmt: skip


def _show_gate_status(db: Database, mv: ModelVersion, named: dict[str, int]) -> None:
    from appliance.registry import evaluate_gates, get_version

    current = named.get("production")
    if current == mv.version:
        click.echo("  gates       this version is in production")
        return
    production = get_version(db, mv.model, current) if current is not None else None
    report = evaluate_gates(mv, production, override_fairness=None)
    against = f"production v{current}" if current is not None else "no production version"
    click.echo(f"  gates       against {against}: {'pass' if report.passed else 'FAIL'}")
    _echo_gates(report)


@command.command("compile")
@click.argument("name")
@click.argument("ref")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900.0,
              show_default=True, help="Seconds before the compile job is stopped.")  # fmt: skip
@pass_app
def compile_(app: AppContext, name: str, ref: str, timeout_s: float) -> None:
    """Compile version REF of NAME to a native library and check it against XGBoost.

    Runs in a child process; builds the candidate variants, keeps the fastest one that
    matches XGBoost within 1e-5 on the test rows and generated corner cases, and
    records the result (a mismatch blocks promotion; no compiler means XGBoost serves).
    """
    from appliance.cli.steps import stepper
    from appliance.scoring import compile_version

    mv, report = compile_version(app.home, app.store(), name, ref, actor=app.settings.actor,
                                 progress=stepper(), timeout_s=timeout_s)  # fmt: skip
    click.echo(f"{mv.subject}: {_compiled_line(mv.compile)}"
               + ("  (cached)" if report.cached else ""))  # fmt: skip
    if report.status == "failed":
        raise click.exceptions.Exit(7)


@command.command("compare")
@click.argument("name")
@click.argument("ref_a")
@click.argument("ref_b")
@pass_app
def compare(app: AppContext, name: str, ref_a: str, ref_b: str) -> None:
    """Metrics of two versions side by side, with B - A, and the parameters that differ."""
    from appliance.registry import compare_versions, resolve

    db = app.store()
    result = compare_versions(resolve(db, name, ref_a), resolve(db, name, ref_b))
    head_a, head_b = f"v{result.a.version}", f"v{result.b.version}"
    width = max([len("metric"), *(len(row.name) for row in result.metrics)])
    click.echo(f"{'metric':<{width}}  {head_a:>12}  {head_b:>12}  {'B - A':>12}")
    for row in result.metrics:
        diff = f"{row.diff:+.6g}" if row.diff is not None else "-"
        click.echo(f"{row.name:<{width}}  {_num(row.a):>12}  {_num(row.b):>12}  {diff:>12}")
    if result.params:
        click.echo("\nparameters that differ")
        for param in result.params:
            click.echo(f"  {param.name}: {_short(param.a)} -> {_short(param.b)}")


@command.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--alias", type=click.Choice(ALIAS_CHOICES), default="production", show_default=True)
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
@click.option("--override-fairness", metavar="REASON", help="Promote despite failed fairness.")
@pass_app
def promote(
    app: AppContext,
    name: str,
    version: str,
    alias: str,
    reason: str,
    override_fairness: str | None,
) -> None:
    """Point an alias at VERSION (a number or an alias); production must pass the gates."""
    from appliance import registry

    db = app.store()
    target = registry.resolve(db, name, version)
    try:
        report = registry.promote(
            db, name, target.version, alias=alias, actor=app.settings.actor,
            reason=reason, override_fairness=override_fairness,
        )  # fmt: skip
    except registry.GatesFailed as refused:
        _echo_gates(refused.report)
        raise
    _echo_gates(report)
    was = f" (was v{report.production})" if report.production is not None else ""
    click.echo(f"{name} v{target.version} is now {alias}{was}")


@command.command("rollback")
@click.argument("name")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
@pass_app
def rollback(app: AppContext, name: str, reason: str) -> None:
    """Restore the production version that preceded the current one."""
    from appliance import registry

    before, after = registry.rollback(app.store(), name, actor=app.settings.actor, reason=reason)
    click.echo(f"{name}: production rolled back from v{before} to v{after}")


@command.command("reject")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
@pass_app
def reject(app: AppContext, name: str, version: int, reason: str) -> None:
    """Mark a version rejected: it can never take an alias again."""
    from appliance import registry

    registry.reject(app.store(), name, version, actor=app.settings.actor, reason=reason)
    click.echo(f"{name} v{version} rejected")


def _echo_gates(report: GateReport) -> None:
    for gate in report.gates:
        mark = "PASS" if gate.passed else "FAIL"
        mark = "WARN" if gate.passed and gate.warning else mark
        click.echo(f"    {mark}  {gate.name:<12} {gate.detail}")


def _aliases_by_version(db: Database, model: str) -> dict[int, list[str]]:
    from appliance.registry import aliases

    held: dict[int, list[str]] = {}
    for alias, version in aliases(db, model).items():
        held.setdefault(version, []).append(alias)
    return held


def _format_aliases(named: Mapping[str, int]) -> str:
    return ", ".join(f"{a}=v{v}" for a, v in named.items()) or "none"


def _inline(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in values.items()) or "-"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
