"""Job definitions and the offline APScheduler runner with job-run records (see DESIGN.md).

``Runner`` runs a home's configured jobs (``appliance.toml``, read by ``load_config``)
from the ``CATALOGUE``; ``supervise`` runs it, and later the REST API and Flight SQL,
as ``appliance up``. Runs are recorded in ``job_runs`` (``scheduler.records``).
"""

from scheduler.catalogue import CATALOGUE, JobKind
from scheduler.clock import Clock, FakeClock, SystemClock
from scheduler.config import ApplianceConfig, JobConfig, RetryPolicy, ServiceConfig, load_config
from scheduler.errors import JobBusy, JobError
from scheduler.job import JobContext, JobResult
from scheduler.records import JobRun
from scheduler.runner import Runner, settle_interrupted
from scheduler.service import Service, supervise

__all__ = [
    "CATALOGUE",
    "ApplianceConfig",
    "Clock",
    "FakeClock",
    "JobBusy",
    "JobConfig",
    "JobContext",
    "JobError",
    "JobKind",
    "JobResult",
    "JobRun",
    "RetryPolicy",
    "Runner",
    "Service",
    "ServiceConfig",
    "SystemClock",
    "load_config",
    "settle_interrupted",
    "supervise",
]
