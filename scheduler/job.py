"""What a job receives and returns. A job is a function ``run(ctx) -> JobResult``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.home import DataHome

__all__ = ["JobContext", "JobFunction", "JobResult"]


@dataclass(frozen=True)
class JobContext:
    home: DataHome
    db: Database
    """The store, opened by the process that runs the job."""
    params: Mapping[str, Any]
    """The job's ``params`` table from appliance.toml."""
    now: datetime
    """When the run started (the runner's clock)."""
    actor: str = "scheduler"
    """Recorded in the audit log for whatever the job changes."""
    progress: Callable[[str], None] = field(default=lambda _line: None)
    """Writes one line to the run's log file (logs/jobs/)."""

    def param(self, name: str, kind: type, default: Any) -> Any:
        """A parameter of the expected type; SchemaError naming the job's table if not."""
        from appliance.errors import SchemaError

        value = self.params.get(name, default)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SchemaError(
                f"appliance.toml: job parameter {name} must be a {kind.__name__}, not {value!r}"
            )
        return value


@dataclass(frozen=True)
class JobResult:
    rows: int = 0
    """Rows (or tiles, or files) processed."""
    artifacts: list[str] = field(default_factory=list)
    """What the run produced: home-relative paths or ``model/version`` names."""
    summary: str = ""
    """One line for the log and ``appliance jobs history``."""
    problems: list[str] = field(default_factory=list)
    """Things a person should look at although the run succeeded (a quarantined file);
    each one is logged and alerted."""


JobFunction = Callable[[JobContext], JobResult]
