"""``appliance doctor``: checks of the home, the store, the models, the compiler and the
ports, each saying what is wrong in plain words. Add a check to ``checks.CHECKS``."""

from appliance.doctor.checks import CHECKS
from appliance.doctor.model import (
    STATUSES,
    Check,
    CheckResult,
    DoctorConfig,
    DoctorContext,
    run_checks,
)
from appliance.doctor.service_lock import ServiceLock, running_service

__all__ = [
    "CHECKS",
    "STATUSES",
    "Check",
    "CheckResult",
    "DoctorConfig",
    "DoctorContext",
    "ServiceLock",
    "run_checks",
    "running_service",
]
