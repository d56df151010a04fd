"""The home's ``appliance.toml``: the service table and the scheduled jobs, validated once.

Every mistake is a SchemaError naming the file, the table and the key. A home without
the file (made before it existed) runs on the shipped defaults.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import SchemaError
from appliance.home import DataHome, safe_name
from appliance.toml_files import read_toml
from scheduler.schedule import Schedule, parse_duration

__all__ = [
    "ApplianceConfig",
    "JobConfig",
    "RetryPolicy",
    "ServiceConfig",
    "load_config",
    "parse_config",
]

LOG_FORMATS = ("plain", "json")
_HOST = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")


@dataclass(frozen=True)
class ServiceConfig:
    """The ``[service]`` table: what ``appliance up`` listens on and how it logs."""

    host: str = "127.0.0.1"
    """Address the REST API and the Flight SQL endpoint bind to."""
    api_port: int = 8750
    """Port of the REST API."""
    flight_port: int = 8815
    """Port of the Arrow Flight SQL endpoint."""
    log_format: str = "plain"
    """``plain`` or ``json`` lines on stdout."""
    shutdown_timeout_s: float = 60.0
    """On SIGTERM, how long a running job may finish before it is marked interrupted."""

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        for name in ("api_port", "flight_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name} must be a port number between 1 and 65535")
        if self.api_port == self.flight_port:
            raise ValueError("api_port and flight_port must differ")
        if not _HOST.fullmatch(self.host):
            raise ValueError(f"host {self.host!r} is not a host name or address")

    @property
    def ports(self) -> tuple[tuple[str, str, int], ...]:
        """``(what, key in [service], port)`` for every port the service listens on."""
        return (
            ("REST API", "api_port", self.api_port),
            ("Flight SQL", "flight_port", self.flight_port),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing run is tried, and how long to wait in between."""

    attempts: int = 3
    """Tries in all (1 = no retry)."""
    backoff_s: float = 60.0
    """Wait before the second attempt; doubled for every further one."""
    backoff_max_s: float = 1800.0
    """The longest wait."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        if self.backoff_s < 0 or self.backoff_max_s < self.backoff_s:
            raise ValueError("retry_backoff must be >= 0 and at most retry_backoff_max")

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        return float(min(self.backoff_s * 2 ** (failed_attempt - 1), self.backoff_max_s))


@dataclass(frozen=True)
class JobConfig:
    """One ``[jobs.NAME]`` table."""

    name: str
    """The job's name, its table key; runs are recorded under it."""
    kind: str
    """Which catalogue entry runs it (default: the name)."""
    schedule: Schedule
    enabled: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    """Handed to the job as they are written."""
    catch_up_grace_s: float = 7 * 86400.0
    """A missed run at most this old is caught up (once) on start."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float | None = None
    """A run in a worker process is stopped (and failed) after this long; None: no limit."""


@dataclass(frozen=True)
class ApplianceConfig:
    """The whole file."""

    service: ServiceConfig
    timezone: tzinfo
    jobs: tuple[JobConfig, ...]
    origin: str
    """Where it was read from (a path, or the shipped defaults)."""

    def job(self, name: str) -> JobConfig:
        for job in self.jobs:
            if job.name == name:
                return job
        from appliance.errors import NotFound

        known = ", ".join(j.name for j in self.jobs) or "none"
        raise NotFound(f"no job named {name!r} in {self.origin}; configured jobs: {known}")


_TOP = {"service", "scheduler", "jobs"}
_SERVICE = {"host", "api_port", "flight_port", "log_format", "shutdown_timeout"}
_SCHEDULER = {"timezone", "catch_up_grace", "retry_attempts", "retry_backoff", "retry_backoff_max"}
_JOB = {
    "kind",
    "every",
    "cron",
    "enabled",
    "params",
    "catch_up_grace",
    "retry_attempts",
    "retry_backoff",
    "retry_backoff_max",
    "timeout",
}


def load_config(home: DataHome, kinds: Collection[str] | None = None) -> ApplianceConfig:
    """Read the home's ``appliance.toml`` (the shipped defaults when it has none).

    ``kinds`` are the job kinds that exist (default: the catalogue's)."""
    path = home.config_path
    if path.exists():
        data, _ = read_toml(path, "the appliance config")
        return parse_config(data, str(path), kinds)
    shipped = resources.files("appliance.defaults").joinpath("appliance.toml")
    with resources.as_file(shipped) as default:
        data, _ = read_toml(Path(default), "the shipped appliance config")
    return parse_config(data, f"the shipped defaults (no {path})", kinds)


def parse_config(
    data: Mapping[str, Any], origin: str, kinds: Collection[str] | None = None
) -> ApplianceConfig:
    """Validate a parsed ``appliance.toml``; SchemaError naming the table and key."""
    if kinds is None:
        from scheduler.catalogue import CATALOGUE

        kinds = CATALOGUE.keys()
    _no_unknown(data, _TOP, origin, "the top level")
    service_raw = _table(data, "service", origin)
    sched = _table(data, "scheduler", origin)
    _no_unknown(service_raw, _SERVICE, origin, "[service]")
    _no_unknown(sched, _SCHEDULER, origin, "[scheduler]")
    service = _build(
        origin,
        "[service]",
        lambda: ServiceConfig(
            host=_typed(service_raw, "host", str, "127.0.0.1", origin, "[service]"),
            api_port=_typed(service_raw, "api_port", int, 8750, origin, "[service]"),
            flight_port=_typed(service_raw, "flight_port", int, 8815, origin, "[service]"),
            log_format=_typed(service_raw, "log_format", str, "plain", origin, "[service]"),
            shutdown_timeout_s=_duration(service_raw, "shutdown_timeout", 60, origin, "[service]"),
        ),
    )
    zone = _zone(_typed(sched, "timezone", str, "UTC", origin, "[scheduler]"), origin)
    grace = _duration(sched, "catch_up_grace", 7 * 86400, origin, "[scheduler]")
    retry = _retry(sched, RetryPolicy(), origin, "[scheduler]")
    jobs_raw = _table(data, "jobs", origin)
    jobs = tuple(
        _job(name, raw, grace, retry, zone, origin, kinds) for name, raw in jobs_raw.items()
    )
    return ApplianceConfig(service, zone, jobs, origin)


def _job(
    name: str,
    raw: Any,
    grace: float,
    retry: RetryPolicy,
    zone: tzinfo,
    origin: str,
    kinds: Collection[str],
) -> JobConfig:
    where = f"[jobs.{name}]"
    try:
        safe_name(name, "job name")
    except Exception as exc:
        raise SchemaError(f"{origin}: {where}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{origin}: {where} must be a table")
    _no_unknown(raw, _JOB, origin, where)
    kind = _typed(raw, "kind", str, name, origin, where)
    if kind not in kinds:
        raise SchemaError(
            f"{origin}: {where}: no job kind {kind!r}; known kinds: {', '.join(sorted(kinds))} "
            "(set kind = ... to use one under another name)"
        )
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise SchemaError(f"{origin}: {where}: params must be a table")
    every, cron = raw.get("every"), raw.get("cron")
    if (every is None) == (cron is None):
        raise SchemaError(f"{origin}: {where}: give exactly one of `every` or `cron`")
    try:
        if cron is not None:
            if not isinstance(cron, str):
                raise ValueError('cron must be a string like "0 2 * * sun"')
            schedule = Schedule.from_cron(cron, zone)
        else:
            schedule = Schedule.every(parse_duration(every), zone)
    except ValueError as exc:
        raise SchemaError(f"{origin}: {where}: {exc}") from exc
    timeout = _duration(raw, "timeout", None, origin, where)
    return JobConfig(
        name=name,
        kind=kind,
        schedule=schedule,
        enabled=_typed(raw, "enabled", bool, True, origin, where),
        params=dict(params),
        catch_up_grace_s=_duration(raw, "catch_up_grace", grace, origin, where),
        retry=_retry(raw, retry, origin, where),
        timeout_s=timeout if timeout else None,
    )


def _retry(raw: Mapping[str, Any], default: RetryPolicy, origin: str, where: str) -> RetryPolicy:
    return _build(
        origin,
        where,
        lambda: RetryPolicy(
            attempts=_typed(raw, "retry_attempts", int, default.attempts, origin, where),
            backoff_s=_duration(raw, "retry_backoff", default.backoff_s, origin, where),
            backoff_max_s=_duration(raw, "retry_backoff_max", default.backoff_max_s, origin, where),
        ),
    )


def _build(origin: str, where: str, make: Any) -> Any:
    try:
        return make()
    except ValueError as exc:
        raise SchemaError(f"{origin}: {where}: {exc}") from exc


def _zone(name: str, origin: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SchemaError(
            f"{origin}: [scheduler] timezone {name!r} is not a known time zone "
            '(use a name like "UTC" or "Africa/Nairobi")'
        ) from exc


def _table(data: Mapping[str, Any], key: str, origin: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise SchemaError(f"{origin}: [{key}] must be a table")
    return value


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], origin: str, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SchemaError(
            f"{origin}: {where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _typed(
    raw: Mapping[str, Any], key: str, kind: type, default: Any, origin: str, where: str
) -> Any:
    value = raw.get(key, default)
    # bool is an int in Python; a port of `true` is still a mistake
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SchemaError(f"{origin}: {where}: {key} must be a {kind.__name__}, not {value!r}")
    return value


def _duration(
    raw: Mapping[str, Any], key: str, default: float | None, origin: str, where: str
) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise SchemaError(f"{origin}: {where}: {key}: {exc}") from exc
