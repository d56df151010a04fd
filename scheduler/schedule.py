"""When a job fires: cron or interval schedules as APScheduler triggers, and durations.

APScheduler's triggers are pure (``get_next_fire_time(previous, now)``), so the
catch-up rule in ``scheduler.catchup`` uses the very triggers the live scheduler fires.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

__all__ = ["Schedule", "format_duration", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_WEEKDAY_NUMBER = re.compile(r"(^|[,-])\d")


def parse_duration(value: Any) -> float:
    """Seconds from a number or ``"30s"``, ``"15m"``, ``"2h"``, ``"7d"``; ValueError if not."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if not match:
            raise ValueError(f'{value!r} is not a duration like "90s", "15m", "2h" or "7d"')
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration of zero seconds or more")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact way to write ``seconds`` with one unit (``"15m"``, ``"2.5s"``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


@dataclass(frozen=True)
class Schedule:
    """A cron expression or a fixed interval, read in ``timezone``."""

    cron: str | None
    every_s: float | None
    timezone: tzinfo

    @classmethod
    def from_cron(cls, expression: str, timezone: tzinfo) -> Schedule:
        """A five-field cron schedule; ValueError naming what is wrong."""
        from apscheduler.triggers.cron import CronTrigger

        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(
                f"cron {expression!r} must have five fields: minute hour day month weekday"
            )
        if _WEEKDAY_NUMBER.search(fields[4]):
            raise ValueError(
                f"cron {expression!r}: write weekdays by name (mon, tue, ..., sun, or mon-fri); "
                "numbers are refused because cron and APScheduler disagree on what 0 means"
            )
        try:
            CronTrigger.from_crontab(expression, timezone=timezone)
        except ValueError as exc:
            raise ValueError(f"cron {expression!r}: {exc}") from exc
        return cls(expression, None, timezone)

    @classmethod
    def every(cls, seconds: float, timezone: tzinfo) -> Schedule:
        if seconds < 1:
            raise ValueError("every must be at least one second")
        return cls(None, seconds, timezone)

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron}"
        return f"every {format_duration(self.every_s or 0)}"

    def trigger(self, anchor: datetime) -> BaseTrigger:
        """The APScheduler trigger; an interval counts from ``anchor`` (the last fire)."""
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            return CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        from apscheduler.triggers.interval import IntervalTrigger

        step = timedelta(seconds=self.every_s or 0)
        return IntervalTrigger(
            seconds=step.total_seconds(), start_date=anchor + step, timezone=self.timezone
        )

    def next_after(self, moment: datetime, anchor: datetime) -> datetime | None:
        """The first fire time strictly after ``moment``."""
        if self.cron is not None:
            return self.trigger(anchor).get_next_fire_time(moment, moment)
        every = self.every_s or 0
        first = anchor + timedelta(seconds=every)
        if moment < first:
            return first
        steps = math.floor((moment - anchor).total_seconds() / every) + 1
        return anchor + timedelta(seconds=every * steps)
