"""One log line per step on stderr, with the seconds since the command began."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["Progress", "quiet", "stepper"]

Progress = Callable[[str], None]


def stepper() -> Progress:
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return step


def quiet(_message: str) -> None:
    """A progress sink that drops every line."""
