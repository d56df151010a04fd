"""`appliance jobs list|run NAME|history`: the scheduler's jobs, seen from the command line.

The scheduler lives in its own package; it is imported inside each command (the edge
between the appliance core and the scheduler is here, not in the core)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from scheduler.records import JobRun

__all__ = ["command"]


@click.group("jobs")
def command() -> None:
    """The scheduled jobs in the home's appliance.toml: list them, run one now, read history."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def list_jobs(app: AppContext, as_json: bool) -> None:
    """Each job: kind, schedule, enabled, its last run and when it is next due."""
    from appliance.doctor import running_service
    from scheduler import records
    from scheduler.catalogue import CATALOGUE
    from scheduler.config import load_config
    from scheduler.runner import settle_interrupted

    config = load_config(app.home)
    db = app.store()
    now = datetime.now(UTC)
    settle_interrupted(app.home, db, now)
    latest = records.latest_runs(db)
    rows = []
    for job in config.jobs:
        last, fired = latest.get(job.name), records.last_fire(db, job.name)
        due = job.schedule.next_after(now, anchor=fired or now) if job.enabled else None
        rows.append(
            {
                "job": job.name,
                "kind": job.kind,
                "heavy": CATALOGUE[job.kind].heavy,
                "schedule": job.schedule.describe(),
                "enabled": job.enabled,
                "last_run": _run_dict(last) if last else None,
                "next_due": due.isoformat() if due else None,
            }
        )
    alerts = records.list_alerts(db, limit=5)
    if as_json:
        click.echo(json.dumps({"jobs": rows, "alerts": [a.__dict__ for a in alerts]}, indent=1))
        return
    _print_jobs(rows, config.timezone)
    if running_service(app.home) is None:
        click.echo("appliance up is not running: nothing fires until it starts")
    for alert in alerts:
        click.secho(f"alert {_when(alert.at, config.timezone)}  {alert.message}", fg="red")


def _print_jobs(rows: list[dict[str, Any]], zone: tzinfo) -> None:
    click.echo(f"{'job':<16} {'kind':<17} {'schedule':<18} {'on':<4} {'last run':<34} next due")
    for r in rows:
        last = r["last_run"]
        shown = (
            f"#{last['id']} {last['status']} {_when(last['started_at'], zone)}" if last else "never"
        )
        kind = r["kind"] + (" (worker)" if r["heavy"] else "")
        due = _when(r["next_due"], zone) if r["next_due"] else "-"
        on = "yes" if r["enabled"] else "no"
        click.echo(f"{r['job']:<16} {kind:<17} {r['schedule']:<18} {on:<4} {shown:<34} {due}")


@command.command("run")
@click.argument("name")
@click.option(
    "--retry", is_flag=True, help="Retry a failure with the job's backoff, as the scheduler does."
)
@pass_app
def run_job(app: AppContext, name: str, retry: bool) -> None:
    """Run job NAME now, in the foreground (heavy jobs in a worker process, as scheduled).

    Refused while the job is running anywhere else: runs of one job never overlap."""
    from scheduler.config import load_config
    from scheduler.errors import JobError
    from scheduler.logs import logging_to
    from scheduler.runner import Runner

    config = load_config(app.home)
    config.job(name)  # NotFound naming the configured jobs
    app.store().close()  # migrated before the first record is written
    with logging_to(sys.stderr, "plain"):
        run = Runner(app.home, config).run_now(name, "manual", retry=retry)
    if run.status != "ok":
        raise JobError(f"job {name} run {run.id} {run.status}: {run.error}")
    click.echo(f"job {name} run {run.id} ok in {run.seconds or 0:.1f} s: {run.summary}")
    for artifact in run.artifacts:
        click.echo(f"  {artifact}")


@command.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def history(app: AppContext, name: str | None, limit: int, as_json: bool) -> None:
    """The newest runs (of job NAME, or of all): trigger, attempt, status, rows, error."""
    from scheduler import records
    from scheduler.config import load_config
    from scheduler.runner import settle_interrupted

    zone = load_config(app.home).timezone
    db = app.store()
    settle_interrupted(app.home, db, datetime.now(UTC))
    runs = records.list_runs(db, name, limit)
    if as_json:
        click.echo(json.dumps([_run_dict(r) for r in runs], indent=1))
        return
    if not runs:
        click.echo(f"no runs of {name!r} yet" if name else "no job has run yet")
        return
    click.echo(
        f"{'run':>5} {'job':<14} {'trigger':<11} {'try':>3} {'started':<16} "
        f"{'took':>8} {'status':<11} {'rows':>9}  summary / error"
    )
    for r in runs:
        took = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
        text = r.error if r.status != "ok" else r.summary
        colour = {"ok": None, "running": "cyan", "interrupted": "yellow"}.get(r.status, "red")
        click.echo(
            f"{r.id:>5} {r.job:<14} {r.trigger:<11} {r.attempt:>3} "
            f"{_when(r.started_at, zone):<16} {took:>8} "
            + click.style(f"{r.status:<11}", fg=colour)
            + f" {r.rows:>9,}  {text or ''}"
        )


def _run_dict(run: JobRun) -> dict[str, Any]:
    return {**run.__dict__, "seconds": run.seconds}


def _when(stamp: str, zone: tzinfo) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")
