"""One log line per step of a long command, on stderr, with the seconds since it began."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

__all__ = ["stepper"]


def stepper() -> Callable[[str], None]:
    started = time.perf_counter()

    def step(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {message}", err=True)

    return step
