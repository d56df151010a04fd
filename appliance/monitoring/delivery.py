"""Delivering new alerts: a JSON POST to an on-premise webhook and/or one mail through an
on-premise SMTP relay. Both are optional (``webhook``, ``smtp`` in the monitoring
settings); nothing is sent anywhere else.

Delivery never raises into the monitoring run: each alert records when it was delivered,
or the attempt count and the last error, and alerts not yet delivered are tried again
on the next run (at most ``MAX_ATTEMPTS`` times).
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from appliance.monitoring.alerts import Alert, list_alerts
from appliance.monitoring.config import MonitoringConfig, SmtpConfig

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["MAX_ATTEMPTS", "deliver_pending", "post_webhook", "send_mail"]

MAX_ATTEMPTS = 5


def post_webhook(url: str, alerts: Sequence[Alert], timeout: float) -> None:
    """POST ``{"alerts": [...]}``; OSError (or HTTPError) if it does not answer 2xx."""
    body = json.dumps({"alerts": [a.to_dict() for a in alerts]}).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "scoring-appliance"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"the webhook answered HTTP {response.status}")


def send_mail(smtp: SmtpConfig, alerts: Sequence[Alert]) -> None:
    """One mail listing ``alerts``; OSError / smtplib.SMTPException on failure."""
    message = EmailMessage()
    acts = sum(a.level == "act" for a in alerts)
    models = ", ".join(sorted({a.model for a in alerts}))
    message["Subject"] = f"[appliance] {len(alerts)} monitoring alert(s) ({acts} act) for {models}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    lines = [f"#{a.id} [{a.level}] {a.message}" + (" (retrain requested)"
             if a.retrain_requested else "") for a in alerts]  # fmt: skip
    message.set_content("\n".join(lines) + "\n")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        if smtp.starttls:
            client.starttls()
        client.send_message(message)


def deliver_pending(db: Database, config: MonitoringConfig, now: str) -> tuple[int, list[str]]:
    """Deliver every alert not yet delivered (fewer than MAX_ATTEMPTS tries); returns how
    many were delivered and the errors met."""
    if config.webhook is None and config.smtp is None:
        return 0, []
    pending = [a for a in list_alerts(db, undelivered=True) if a.delivery_attempts < MAX_ATTEMPTS]
    if not pending:
        return 0, []
    pending.reverse()  # oldest first
    errors = []
    for channel, send in _channels(config):
        try:
            send(pending)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            errors.append(f"{channel}: {exc}")
    ids = [(a.id,) for a in pending]
    with db.atomic():
        if errors:
            db.conn.executemany(
                "UPDATE alerts SET delivery_attempts = delivery_attempts + 1, delivery_error = ? "
                "WHERE id = ?", [("; ".join(errors), i) for (i,) in ids])  # fmt: skip
        else:
            db.conn.executemany(
                "UPDATE alerts SET delivery_attempts = delivery_attempts + 1, delivered_at = ?, "
                "delivery_error = NULL WHERE id = ?", [(now, i) for (i,) in ids])  # fmt: skip
    return (0 if errors else len(pending)), errors


def _channels(config: MonitoringConfig) -> list[tuple[str, Callable[[Sequence[Alert]], None]]]:
    out: list[tuple[str, Callable[[Sequence[Alert]], None]]] = []
    if config.webhook is not None:
        url, timeout = config.webhook, config.webhook_timeout_s
        out.append((f"webhook {url}", lambda alerts: post_webhook(url, alerts, timeout)))
    if config.smtp is not None:
        smtp = config.smtp
        out.append((f"smtp {smtp.host}:{smtp.port}", lambda alerts: send_mail(smtp, alerts)))
    return out
