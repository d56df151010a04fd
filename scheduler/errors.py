"""The scheduler's errors, in the appliance's one hierarchy, and which failures are final."""

from __future__ import annotations

from appliance.errors import (
    ApplianceError,
    ArtifactTampered,
    AuditChainBroken,
    HomeError,
    NotFound,
    PromotionRefused,
    SchemaError,
)

__all__ = ["JobBusy", "JobError", "JobPartlyFailed", "is_permanent"]

_PERMANENT = (
    SchemaError,
    NotFound,
    HomeError,
    PromotionRefused,
    ArtifactTampered,
    AuditChainBroken,
)


class JobError(ApplianceError):
    """A job run failed; its record in ``appliance jobs history`` has the details."""

    exit_code = 9
    http_status = 500


class JobBusy(JobError):
    """The job is already running (here or in another process); runs never overlap."""

    exit_code = 10
    http_status = 409


class JobPartlyFailed(JobError):
    """Some parts of a run failed (one use case of several); the message names each."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def is_permanent(exc: BaseException) -> bool:
    """True for failures that another attempt cannot fix (a broken spec, a missing
    dataset, a tampered artifact); those are alerted at once instead of retried."""
    if isinstance(exc, JobPartlyFailed):
        return exc.permanent
    return isinstance(exc, _PERMANENT)
