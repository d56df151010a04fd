"""What a doctor check sees and says: a context in, ``(name, ok|warn|fail, detail)`` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.home import DataHome

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["STATUSES", "Check", "CheckResult", "DoctorConfig", "DoctorContext", "run_checks"]

STATUSES = ("ok", "warn", "fail")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    """ok, warn or fail."""
    detail: str
    """Plain words: what was found and, when it is not ok, what to do."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")


@dataclass(frozen=True)
class DoctorConfig:
    """What the caller read from the home's appliance.toml."""

    origin: str
    from_home: bool
    """False when the home has no appliance.toml and the shipped defaults apply."""
    jobs: int
    enabled: int
    host: str
    ports: tuple[tuple[str, str, int], ...]
    """``(what, key in [service], port)``."""


@dataclass
class DoctorContext:
    home: DataHome
    config: DoctorConfig | None = None
    config_error: str | None = None
    """Why appliance.toml could not be read (then ``config`` is None)."""
    _db: Database | None = field(default=None, repr=False)

    def db(self) -> Database:
        """The store, opened once, never migrated (the doctor changes nothing)."""
        if self._db is None:
            from appliance.store.db import connect

            self.home.require_initialised()  # never create a store while looking at one
            self._db = connect(self.home.db_path, migrate_schema=False)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


CheckFunction = Callable[[DoctorContext], CheckResult | list[CheckResult]]


@dataclass(frozen=True)
class Check:
    name: str
    function: CheckFunction


def run_checks(ctx: DoctorContext, checks: Sequence[Check]) -> list[CheckResult]:
    """Every check's results, in order; a check that crashes fails with the reason."""
    results: list[CheckResult] = []
    try:
        for check in checks:
            try:
                found = check.function(ctx)
            except Exception as exc:
                found = CheckResult(check.name, "fail", f"{type(exc).__name__}: {exc}")
            results.extend(found if isinstance(found, list) else [found])
    finally:
        ctx.close()
    return results
