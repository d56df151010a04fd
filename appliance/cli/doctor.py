"""`appliance doctor`: check the home, the store, the models, the compiler and the ports."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from appliance.doctor import DoctorConfig

__all__ = ["command"]

_MARK = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of {name, status, detail}.")
@pass_app
def command(app: AppContext, as_json: bool) -> None:
    """Check the data home and say what is wrong in plain words; exits 1 if a check fails.

    Checks: the home's layout, appliance.toml, the store (opens, SQLite integrity check,
    migrations), the audit chain, every production model (booster hash, compiled or
    not), the C compiler, the imagery model, and the service's ports.
    """
    from appliance.doctor import CHECKS, DoctorContext, run_checks

    config, problem = _config(app)
    results = run_checks(DoctorContext(app.home, config, problem), CHECKS)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], indent=1))
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            mark, colour = _MARK[r.status]
            click.echo(click.style(f"{mark:<5}", fg=colour) + f" {r.name:<{width}}  {r.detail}")
        counts = {s: sum(r.status == s for r in results) for s in _MARK}
        click.echo(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failure(s)")
    if any(r.status == "fail" for r in results):
        raise click.exceptions.Exit(1)


def _config(app: AppContext) -> tuple[DoctorConfig | None, str | None]:
    """The home's appliance.toml as the doctor needs it, or why it does not load.

    Read through the scheduler here, at the edge: the appliance core does not know it."""
    from appliance.doctor import DoctorConfig
    from appliance.errors import ApplianceError
    from scheduler.config import load_config

    try:
        config = load_config(app.home)
    except ApplianceError as exc:
        return None, str(exc)
    s = config.service
    return DoctorConfig(
        origin=config.origin,
        from_home=app.home.config_path.exists(),
        jobs=len(config.jobs),
        enabled=sum(j.enabled for j in config.jobs),
        host=s.host,
        ports=s.ports,
    ), None
