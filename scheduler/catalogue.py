"""Every kind of job the scheduler can run: name -> function (as ``module:function``,
imported only in the process that runs it) and whether it is heavy.

Heavy jobs run in a worker process of their own (``python -m scheduler.run_job``), so
the service that started them keeps its latency. A later job kind is one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from scheduler.job import JobFunction

__all__ = ["CATALOGUE", "JobKind"]


@dataclass(frozen=True)
class JobKind:
    name: str
    target: str
    """``package.module:function``; the function takes a JobContext, returns a JobResult."""
    heavy: bool
    """Runs in a worker process of its own."""
    description: str

    def load(self) -> JobFunction:
        module_name, _, attr = self.target.partition(":")
        function: JobFunction = getattr(importlib.import_module(module_name), attr)
        return function


CATALOGUE: Mapping[str, JobKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            # ingest is heavy too: cleaning a large file holds the GIL for long stretches
            JobKind(
                "ingest",
                "scheduler.jobs.ingest:run",
                True,
                "sweep the inbox: ingest every file a source's inbox_pattern matches",
            ),
            JobKind(
                "imagery",
                "scheduler.jobs.imagery:run",
                True,
                "classify new satellite tiles into regional flood/drought labels",
            ),
            JobKind(
                "retrain",
                "scheduler.jobs.retrain:run",
                True,
                "train a challenger per use case; promoted where the spec allows and gates pass",
            ),
            JobKind(
                "publish",
                "scheduler.jobs.publish:run",
                True,
                "new score rows and current tables into the Hyper extracts and the Arrow data set",
            ),
            # drift and performance read the whole window's log and the lake: a worker
            JobKind(
                "drift",
                "scheduler.jobs.drift:run",
                True,
                "drift and skew of each use case's predictions against training; alerts",
            ),
            JobKind(
                "performance",
                "scheduler.jobs.performance:run",
                True,
                "realised (or estimated) performance and fairness per window; alerts",
            ),
            JobKind(
                "housekeeping",
                "scheduler.jobs.housekeeping:run",
                False,
                "quarantine and log retention, a backup of the home, VACUUM and ANALYZE",
            ),
        )
    }
)
