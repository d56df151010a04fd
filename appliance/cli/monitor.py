"""`appliance monitor USECASE`: drift, performance and fairness for the latest windows,
then the self-contained HTML monitoring report; prints where it is."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app
from appliance.cli.drift import WINDOWS, _day, _print_drift, monitoring_config, print_alerts
from appliance.cli.steps import stepper

__all__ = ["command"]


@click.command("monitor")
@click.argument("usecase")
@click.option("--window", type=click.Choice(WINDOWS), default=None,
              help="Window size (default: the jobs' params.window, else week).")
@click.option("--at", "at", default=None, metavar="DATE",
              help="Measure only the window holding this date (YYYY-MM-DD).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the report (default: publish/monitoring/USECASE.html).")
@pass_app
def command(app: AppContext, usecase: str, window: str | None, at: str | None,
            out: Path | None) -> None:  # fmt: skip
    """Measure USECASE's drift, performance and fairness and write the monitoring report."""
    from appliance.monitoring import DEFAULT_BANDS, measure_drift, measure_performance
    from appliance.monitoring.report import write_report
    from appliance.usecase.locate import locate_spec

    step = stepper()
    spec = locate_spec(app.home, usecase)
    config = monitoring_config(app, ["drift", "performance"])
    kind = window or config.window
    db = app.store()
    drift = measure_drift(app.home, db, spec, config, window_kind=kind, at=_day(at),
                          progress=step)  # fmt: skip
    performance = measure_performance(app.home, db, spec, config, window_kind=kind,
                                      at=_day(at), progress=step)  # fmt: skip
    _print_drift(drift)
    drift.new_alerts += performance.new_alerts
    drift.notes += performance.notes
    drift.delivered += performance.delivered
    drift.delivery_errors += performance.delivery_errors
    print_alerts(drift)
    step("writing the report")
    path = write_report(app.home, db, spec, kind, config.band("psi") or DEFAULT_BANDS["psi"], out)
    click.echo(f"report: {path}")
