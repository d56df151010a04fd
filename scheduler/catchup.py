"""What each job does when the scheduler starts: nothing, or exactly one catch-up run.

Pure: the decision needs the schedule, the last fire time recorded in the store, the
job's latest run and the time now. Runs missed while the box was off are coalesced
into one run if the latest missed one is within the job's grace; an interrupted run
is always re-run once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.config import JobConfig
from scheduler.schedule import Schedule, format_duration

__all__ = ["StartDecision", "decide_on_start", "missed_runs"]

MISSED_CAP = 1000
"""Missed runs are counted up to this many (the count is only reported)."""


@dataclass(frozen=True)
class StartDecision:
    job: str
    run: bool
    """True: one catch-up run now."""
    reason: str
    """One line for the log."""
    missed: int = 0
    """Scheduled runs that fell while the scheduler was not running (at most MISSED_CAP)."""
    rerun_of: int | None = None
    """The id of the interrupted run that the catch-up run re-runs."""


def missed_runs(
    schedule: Schedule, last_fire: datetime, now: datetime, cap: int = MISSED_CAP
) -> tuple[int, datetime | None]:
    """How many fire times lie in ``(last_fire, now]`` (up to ``cap``), and the last counted."""
    count, latest = 0, None
    moment = schedule.next_after(last_fire, anchor=last_fire)
    while moment is not None and moment <= now and count < cap:
        count, latest = count + 1, moment
        moment = schedule.next_after(moment, anchor=last_fire)
    return count, latest


def decide_on_start(
    job: JobConfig,
    last_fire: datetime | None,
    now: datetime,
    interrupted_run: int | None = None,
) -> StartDecision:
    """One catch-up run, or none, for ``job`` on start; see the module docstring."""
    if not job.enabled:
        return StartDecision(job.name, False, "disabled")
    if interrupted_run is not None:
        return StartDecision(
            job.name,
            True,
            f"run {interrupted_run} was interrupted; running it again",
            rerun_of=interrupted_run,
        )
    if last_fire is None:
        return StartDecision(job.name, False, "first start: its schedule counts from now")
    count, latest = missed_runs(job.schedule, last_fire, now)
    if count == 0 or latest is None:
        return StartDecision(job.name, False, "no scheduled run was missed")
    capped = count >= MISSED_CAP
    many = f"at least {MISSED_CAP}" if capped else str(count)
    due = "" if capped else f", the latest due {_ago(now, latest)} ago"
    window_start = max(last_fire, now - timedelta(seconds=job.catch_up_grace_s, microseconds=1))
    within = job.schedule.next_after(window_start, anchor=last_fire)
    if within is not None and within <= now:
        return StartDecision(
            job.name,
            True,
            f"missed {many} scheduled run(s) while stopped{due}; catching up with one run",
            missed=count,
        )
    return StartDecision(
        job.name,
        False,
        f"missed {many} scheduled run(s){due}, beyond the catch-up grace of "
        f"{format_duration(job.catch_up_grace_s)}: waiting for the next one",
        missed=count,
    )


def _ago(now: datetime, then: datetime) -> str:
    return format_duration(round(max((now - then).total_seconds(), 0)))
