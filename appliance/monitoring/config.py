"""Monitoring settings, validated once: bands, sizes, alerting and delivery.

They come from the ``params`` of the ``drift`` and ``performance`` jobs in the home's
``appliance.toml`` (the CLI reads the same tables), so one file says how the appliance
watches itself. Every mistake is a MonitoringError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.monitoring.bands import DEFAULT_BANDS, Band, Level
from appliance.monitoring.errors import MonitoringError

__all__ = ["WINDOW_KINDS", "MonitoringConfig", "SmtpConfig"]

WINDOW_KINDS = ("day", "week", "month")
_ALERT_KINDS = ("drift", "skew", "performance", "fairness")


@dataclass(frozen=True)
class SmtpConfig:
    """An on-premise mail relay (plain SMTP, optional STARTTLS; no login)."""

    host: str
    port: int = 25
    sender: str = "appliance@localhost"
    recipients: tuple[str, ...] = ()
    starttls: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class MonitoringConfig:
    window: str = "week"
    """Default window: ``day``, ``week`` or ``month`` (UTC, weeks start on Monday)."""
    windows: int = 12
    """How many of the latest windows with predictions each run (re)computes."""
    min_rows: int = 100
    """Windows with fewer predictions are measured but not judged (no band, no alert)."""
    min_labels: int = 100
    """Labelled rows (with both outcomes) needed before performance is realised, not
    estimated."""
    min_group_size: int = 30
    di_floor: float = 0.8
    """The four-fifths screen: lowest over highest approval rate among groups."""
    bands: Mapping[str, Band] = field(default_factory=lambda: dict(DEFAULT_BANDS))
    alert_level: Level = "act"
    """A metric at this level or worse is an alert."""
    retrain_on: tuple[str, ...] = ("drift", "performance")
    """Alert kinds at act level that request a retrain."""
    webhook: str | None = None
    """An on-premise URL each new alert is POSTed to as JSON."""
    webhook_timeout_s: float = 5.0
    smtp: SmtpConfig | None = None

    def __post_init__(self) -> None:
        if self.window not in WINDOW_KINDS:
            raise ValueError(f"window must be one of {', '.join(WINDOW_KINDS)}")
        for name in ("windows", "min_rows", "min_labels", "min_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 < self.di_floor <= 1.0:
            raise ValueError("di_floor must lie in (0, 1]")
        if self.alert_level not in ("watch", "act"):
            raise ValueError('alert_level must be "watch" or "act"')
        unknown = set(self.retrain_on) - set(_ALERT_KINDS)
        if unknown:
            raise ValueError(f"retrain_on: unknown alert kind(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(_ALERT_KINDS)}")  # fmt: skip
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            raise ValueError("webhook must be an http:// or https:// URL")

    def band(self, metric: str) -> Band | None:
        return self.bands.get(metric)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], origin: str = "monitoring") -> MonitoringConfig:
        """Build from a job's ``params`` table; MonitoringError naming the key if wrong."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(params) - known - {"usecases"})
        if unknown:
            raise MonitoringError(
                f"{origin}: unknown monitoring parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {k: v for k, v in params.items() if k in known}
        try:
            if "bands" in values:
                values["bands"] = _bands(values["bands"])
            if "smtp" in values:
                values["smtp"] = _smtp(values["smtp"])
            if "retrain_on" in values:
                values["retrain_on"] = tuple(values["retrain_on"])
            _check_types(values)
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise MonitoringError(f"{origin}: {exc}") from exc


_TYPES: dict[str, type | tuple[type, ...]] = {
    "window": str, "windows": int, "min_rows": int, "min_labels": int,
    "min_group_size": int, "di_floor": (int, float), "alert_level": str,
    "webhook": str, "webhook_timeout_s": (int, float),
}  # fmt: skip


def _check_types(values: Mapping[str, Any]) -> None:
    for key, kind in _TYPES.items():
        if key in values and (not isinstance(values[key], kind) or isinstance(values[key], bool)):
            raise TypeError(f"{key} must be a {getattr(kind, '__name__', 'number')}, "
                            f"not {values[key]!r}")  # fmt: skip


def _bands(raw: Any) -> dict[str, Band]:
    if not isinstance(raw, Mapping):
        raise TypeError("bands must be a table like { psi = [0.1, 0.25] }")
    bands = dict(DEFAULT_BANDS)
    for metric, pair in raw.items():
        ok = isinstance(pair, list | tuple) and len(pair) == 2
        if not ok or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair):
            raise TypeError(f"bands.{metric} must be [watch, act], two numbers, not {pair!r}")
        bands[str(metric)] = Band(float(pair[0]), float(pair[1]))
    return bands


def _smtp(raw: Any) -> SmtpConfig:
    if not isinstance(raw, Mapping):
        raise TypeError('smtp must be a table like { host = "relay.bank.local", port = 25 }')
    if not isinstance(raw.get("host"), str) or not raw["host"]:
        raise TypeError("smtp.host must name the mail relay")
    allowed = set(SmtpConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise TypeError(f"smtp: unknown key(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(allowed))}")  # fmt: skip
    values = dict(raw)
    recipients = values.get("recipients", [])
    if isinstance(recipients, str) or not all(isinstance(r, str) for r in recipients):
        raise TypeError("smtp.recipients must be a list of addresses")
    if not recipients:
        raise TypeError("smtp.recipients must name at least one address")
    values["recipients"] = tuple(recipients)
    return SmtpConfig(**values)
