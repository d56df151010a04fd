"""The ``drift`` job: drift and training-serving skew of every use case's logged
predictions, as `appliance drift`, with alerts (and retrain requests) recorded and
delivered.

Parameters (``[jobs.drift] params``): ``usecases`` (names; ``[]`` = every spec in
``usecases/`` whose model has logged predictions) and any monitoring setting
(``window``, ``windows``, ``bands``, ``min_rows``, ``alert_level``, ``retrain_on``,
``webhook``, ``smtp``; see docs/monitoring.md).
"""

from __future__ import annotations

from scheduler.job import JobContext, JobResult
from scheduler.jobs.performance import monitor_each

__all__ = ["run"]


def run(ctx: JobContext) -> JobResult:
    from appliance.monitoring import measure_drift

    return monitor_each(ctx, "drift", measure_drift)
