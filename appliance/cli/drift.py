"""`appliance drift USECASE [--window day|week|month]`: drift and skew of the logged
predictions against the training reference, stored, alerted and summarised."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.context import AppContext, pass_app
from appliance.cli.steps import stepper

if TYPE_CHECKING:
    from appliance.monitoring import MonitoringConfig
    from appliance.monitoring.run import MonitorRun

__all__ = ["command", "monitoring_config"]

WINDOWS = ("day", "week", "month")


def monitoring_config(app: AppContext, kinds: Collection[str]) -> MonitoringConfig:
    """The monitoring settings from the ``params`` of the home's jobs of ``kinds`` (in that
    order, later ones overriding), or the defaults."""
    from appliance.monitoring import MonitoringConfig
    from scheduler.config import load_config

    config = load_config(app.home)
    params: dict[str, Any] = {}
    origin = config.origin
    for kind in kinds:
        for job in config.jobs:
            if job.kind == kind:
                params.update(job.params)
                origin = f"{config.origin}: [jobs.{job.name}] params"
                break
    return MonitoringConfig.from_params(params, origin)


def _print_drift(run: MonitorRun, top: int = 8) -> None:
    if not run.drift:
        return
    latest = max(run.drift, key=lambda w: (w.window, w.version))
    w = latest.window
    click.echo(f"{run.model} v{latest.version}, {w.kind} {w.label} ({w.start_iso} .. "
               f"{w.end_iso}): {latest.rows:,} predictions")  # fmt: skip
    measured = [*latest.features, *([latest.score] if latest.score else [])]
    measured.sort(key=lambda d: -(d.value("psi") or 0.0))
    click.echo(f"  {'feature':<28} {'PSI':>7} {'KS':>6} {'JS':>6}  level")
    for d in measured[:top]:
        click.echo(f"  {d.feature:<28} {_f(d.value('psi'))} {_f(d.value('ks'), 6)} "
                   f"{_f(d.value('js'), 6)}  {d.level or '-'}")  # fmt: skip
    counts = {lvl: len(latest.at_level(lvl)) for lvl in ("act", "watch", "stable")}
    click.echo(f"  {counts['act']} at act level, {counts['watch']} to watch, "
               f"{counts['stable']} stable" + (f"; {measured[0].note}" if measured and
                                                measured[0].note else ""))  # fmt: skip
    skewed = [d for d in latest.skew if d.level in ("watch", "act")]
    if latest.skew:
        click.echo(f"  skew: {latest.skew[0].rows:,} predictions "
                   f"checked against the lake; {len(skewed)} feature(s) differ"
                   + (f" ({', '.join(d.feature for d in skewed)})" if skewed else ""))  # fmt: skip


def _f(value: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def print_alerts(run: MonitorRun) -> None:
    for note in run.notes:
        click.echo(f"note: {note}")
    if run.new_alerts:
        retrain = sum(a.retrain_requested for a in run.new_alerts)
        click.echo(f"{len(run.new_alerts)} new alert(s)"
                   + (f", {retrain} requesting a retrain" if retrain else ""))  # fmt: skip
    else:
        click.echo("no new alerts")
    if run.delivered:
        click.echo(f"delivered {run.delivered} alert(s)")
    for error in run.delivery_errors:
        click.echo(f"alert delivery failed: {error} (tried again on the next run)", err=True)


@click.command("drift")
@click.argument("usecase")
@click.option("--window", type=click.Choice(WINDOWS), default=None,
              help="Window size (default: [jobs.drift] params.window, else week).")
@click.option("--at", "at", default=None, metavar="DATE",
              help="Measure only the window holding this date (YYYY-MM-DD).")
@click.option("--no-skew", is_flag=True, help="Skip the training-serving skew check.")
@pass_app
def command(app: AppContext, usecase: str, window: str | None, at: str | None,
            no_skew: bool) -> None:  # fmt: skip
    """Drift of USECASE's logged predictions against each version's training reference."""
    from appliance.monitoring import measure_drift
    from appliance.usecase.locate import locate_spec

    step = stepper()
    spec = locate_spec(app.home, usecase)
    config = monitoring_config(app, ["drift"])
    db = app.store()
    run = measure_drift(app.home, db, spec, config, window_kind=window, at=_day(at),
                        skew=not no_skew, progress=step)  # fmt: skip
    _print_drift(run)
    print_alerts(run)


def _day(text: str | None) -> Any:
    if text is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        from appliance.errors import SchemaError

        raise SchemaError(f"--at {text!r} is not a date (YYYY-MM-DD)") from exc
