"""Monitoring windows: a day, an ISO week (Monday to Sunday) or a calendar month, in UTC.

A prediction belongs to the window its ``at`` time falls in; windows are half open,
``[start, end)``, and named for people: ``2025-04-07``, ``2025-W15``, ``2025-04``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["Window", "window_of", "windows_between"]


@dataclass(frozen=True, order=True)
class Window:
    start: date
    end: date
    kind: str

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return self.start.strftime("%Y-%m")

    @property
    def start_iso(self) -> str:
        return self.start.isoformat()

    @property
    def end_iso(self) -> str:
        return self.end.isoformat()

    def next(self) -> Window:
        return window_of(self.kind, self.end)


def window_of(kind: str, day: date | datetime | str) -> Window:
    """The window of ``kind`` holding ``day`` (a date, a datetime or ISO text)."""
    if isinstance(day, str):
        day = datetime.fromisoformat(day.replace("Z", "+00:00"))
    if isinstance(day, datetime):
        day = day.date()
    if kind == "day":
        return Window(day, day + timedelta(days=1), kind)
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Window(start, start + timedelta(days=7), kind)
    if kind == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return Window(start, end, kind)
    raise ValueError(f"window must be day, week or month, not {kind!r}")


def windows_between(kind: str, first: date | str, last: date | str) -> list[Window]:
    """Every window of ``kind`` from the one holding ``first`` to the one holding ``last``."""
    window, final = window_of(kind, first), window_of(kind, last)
    out = [window]
    while window < final:
        window = window.next()
        out.append(window)
    return out
