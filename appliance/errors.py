"""One hierarchy for every error the appliance shows a person.

Foreign exceptions (pyarrow, sqlite3, OSError, tomllib) are translated once, at the
boundary where they happen, into one of these with ``raise ... from exc``. The CLI
prints ``str(error)`` and exits with ``exit_code``; the REST app answers with
``http_status``. Messages say what went wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ApplianceError",
    "ArtifactTampered",
    "AuditChainBroken",
    "HomeError",
    "IngestError",
    "NotFound",
    "PromotionRefused",
    "SchemaError",
    "UnreadableFile",
]


class ApplianceError(Exception):
    """Root of every error meant for a user rather than a developer."""

    exit_code: int = 1
    http_status: int = 500


class HomeError(ApplianceError):
    """The data home is missing, not initialised, or a path would leave it."""

    exit_code = 2
    http_status = 400


class NotFound(ApplianceError):
    """A named thing (source, dataset, model) does not exist."""

    exit_code = 3
    http_status = 404


class SchemaError(ApplianceError):
    """A source schema or spec file is invalid; the message names the file and field."""

    exit_code = 4
    http_status = 422


class IngestError(ApplianceError):
    """An ingest run could not complete."""

    exit_code = 5
    http_status = 422


class UnreadableFile(IngestError):
    """A file could not be parsed at all; it has been kept intact in quarantine."""

    def __init__(self, message: str, kept_at: str | None = None) -> None:
        super().__init__(message)
        self.kept_at = kept_at

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (the file was kept intact at {self.kept_at})" if self.kept_at else base


class AuditChainBroken(ApplianceError):
    """The audit log's hash chain does not verify."""

    exit_code = 6
    http_status = 500


class PromotionRefused(ApplianceError):
    """A model version may not take (or give back) an alias: a gate failed, it was
    rejected, or there is nothing to roll back to. Nothing was changed."""

    exit_code = 7
    http_status = 409


class ArtifactTampered(ApplianceError):
    """A model artifact's bytes no longer match the hash recorded when it was registered."""

    exit_code = 8
    http_status = 500
