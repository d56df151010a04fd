"""Alerts: deduplicated in the store, delivered to a real webhook on loopback and a real
SMTP server (aiosmtpd) started here, retried after a failed delivery, and retrain
requests picked up by the scheduler."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from sqlite_utils import Database

from appliance.home import DataHome
from appliance.monitoring import MonitoringConfig, pending_retrains
from appliance.monitoring.alerts import Breach, list_alerts, record_alerts
from appliance.monitoring.delivery import MAX_ATTEMPTS, deliver_pending
from appliance.monitoring.windows import window_of
from scheduler.job import JobContext, JobResult

APRIL = window_of("month", date(2025, 4, 10))


def _breach(subject: str = "requested_amount", value: float = 0.4, *, retrain: bool = True,
            window: Any = APRIL) -> Breach:  # fmt: skip
    return Breach("credit_default", 1, "drift", subject, "psi", "act", value, 0.25, window,
                  f"drift of {subject}: psi {value}", retrain)  # fmt: skip


def test_the_same_breach_is_one_alert_seen_twice(db: Database) -> None:
    first = record_alerts(db, [_breach(), _breach("income_band")], "2025-05-01T00:00:00")
    again = record_alerts(db, [_breach(value=0.5)], "2025-05-02T00:00:00")
    later = record_alerts(db, [_breach(window=window_of("month", date(2025, 5, 3)))], "x")
    assert len(first) == 2 and again == [] and len(later) == 1
    alerts = {(a.subject, a.window_start): a for a in list_alerts(db)}
    seen = alerts[("requested_amount", "2025-04-01")]
    assert (seen.occurrences, seen.value, seen.last_seen_at) == (2, 0.5, "2025-05-02T00:00:00")
    assert pending_retrains(db) == {"credit_default": sorted(a.id for a in list_alerts(db))}


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller

    messages: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port (aiosmtpd checks it can connect on start)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, messages
    controller.stop()


def test_new_alerts_go_to_the_webhook_and_the_mail_relay_once(
    db: Database, webhook: tuple[str, type[_Hook]], smtp_server: tuple[int, list[Any]]
) -> None:
    url, hook = webhook
    port, mails = smtp_server
    config = MonitoringConfig.from_params({"webhook": url, "smtp": {
        "host": "127.0.0.1", "port": port, "sender": "appliance@bank.local",
        "recipients": ["risk@bank.local"]}})  # fmt: skip
    record_alerts(db, [_breach(), _breach("income_band")], "t1")
    assert deliver_pending(db, config, "t2") == (2, [])
    assert deliver_pending(db, config, "t3") == (0, [])  # nothing new: nothing sent
    (payload,) = hook.received
    assert [a["subject"] for a in payload["alerts"]] == ["requested_amount", "income_band"]
    assert payload["alerts"][0]["retrain_requested"] is True
    (mail,) = mails
    assert mail.rcpt_tos == ["risk@bank.local"]
    text = mail.content.decode()
    assert "2 monitoring alert(s) (2 act) for credit_default" in text
    assert "drift of income_band" in text and "(retrain requested)" in text
    assert all(a.delivered_at == "t2" for a in list_alerts(db))


def test_a_failed_delivery_is_recorded_and_tried_again(
    db: Database, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    hook.status = 500
    config = MonitoringConfig(webhook=url)
    record_alerts(db, [_breach()], "t1")
    delivered, errors = deliver_pending(db, config, "t2")
    assert delivered == 0 and "HTTP Error 500" in errors[0]
    (alert,) = list_alerts(db)
    assert alert.delivered_at is None and alert.delivery_attempts == 1
    hook.status = 204
    assert deliver_pending(db, config, "t3") == (1, [])
    assert list_alerts(db)[0].delivered_at == "t3" and len(hook.received) == 2
    nowhere = MonitoringConfig(webhook="http://127.0.0.1:9/closed", webhook_timeout_s=1)
    record_alerts(db, [_breach("term_months")], "t4")
    for _ in range(MAX_ATTEMPTS + 1):
        deliver_pending(db, nowhere, "t5")
    stuck = next(a for a in list_alerts(db) if a.subject == "term_months")
    assert stuck.delivery_attempts == MAX_ATTEMPTS and "refused" in (stuck.delivery_error or "")


def fake_drift(ctx: JobContext) -> JobResult:
    """A drift job that finds an act-level breach (for the runner test)."""
    from appliance.store.db import now_iso

    record_alerts(ctx.db, [_breach()], now_iso())
    return JobResult(1, [], "one act-level drift alert")


def fake_retrain(ctx: JobContext) -> JobResult:
    return JobResult(0, [], "retrained nothing")


def test_the_scheduler_retrains_on_a_retrain_request(home: DataHome) -> None:
    from appliance.store.db import connect
    from scheduler import records
    from scheduler.catalogue import JobKind
    from scheduler.config import parse_config
    from scheduler.runner import Runner

    kinds = {
        "drift": JobKind("drift", "tests.test_monitoring_alerts:fake_drift", False, "d"),
        "retrain": JobKind("retrain", "tests.test_monitoring_alerts:fake_retrain", False, "r"),
    }
    config = parse_config({"jobs": {"drift": {"every": "1d"}, "retrain": {"every": "7d"}}},
                          "test config", kinds.keys())  # fmt: skip
    runner = Runner(home, config, catalogue=kinds)
    assert runner.submit("drift", "manual")
    assert runner.wait_idle(30)
    assert runner.wait_idle(30)  # the retrain it started
    db = connect(home.db_path)
    runs = {r.job: r for r in records.list_runs(db)}
    assert runs["retrain"].trigger == "drift-alert" and runs["retrain"].status == "ok"
    (alert,) = list_alerts(db)
    assert alert.retrain_run_id == runs["retrain"].id and pending_retrains(db) == {}


def test_outcomes_match_by_request_or_application_and_orphans_are_counted(
    home: DataHome, db: Database
) -> None:
    from appliance.monitoring.labels import match_outcomes, unmatched_outcomes
    from appliance.serving.predlog import PredictionLog, PredictionRecord

    log = PredictionLog(home.db_path).start()
    for i in (1, 2, 3):
        log.submit(PredictionRecord(request_id=f"r{i}", model="credit_default", version=1,
                                    role="production", served=True, input={}, features={},
                                    probability=0.1, decision="approve", latency_ms=1.0,
                                    application_id=f"A{i}"))  # fmt: skip
    assert log.close()
    rows = [("r1", None, None, 1), (None, "A1", "credit_default", 0),  # a conflict
            (None, "A2", "credit_default", 1), ("r-gone", None, None, 0)]  # fmt: skip
    for request, application, model, outcome in rows:
        db.execute("INSERT INTO outcomes (request_id, application_id, model, outcome, "
                   "observed_at, recorded_at) VALUES (?, ?, ?, ?, '2025-01-01', 'now')",
                   [request, application, model, outcome])  # fmt: skip
    labels = match_outcomes(db, "credit_default", ["r1", "r2", "r3"], ["A1", "A2", "A3"])
    assert labels.y[:2].tolist() == [1.0, 1.0] and labels.y[2] != labels.y[2]  # NaN: unknown
    assert labels.conflicts == 1
    assert unmatched_outcomes(db, "credit_default") == 1
