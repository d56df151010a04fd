"""`appliance up` as a real process: jobs fire, one log line per run, SIGTERM/SIGINT stop
it cleanly, one service per home."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.home import DataHome
from appliance.store.db import connect
from scheduler import records

REPO = Path(__file__).resolve().parents[1]


def only_ingest_every_second(home: DataHome) -> None:
    home.config_path.write_text('[service]\nshutdown_timeout = "10s"\n[jobs.ingest]\nevery = 1\n')


class Service:
    """`appliance --home HOME up ARGS` with its stdout lines read as they come."""

    def __init__(self, home: DataHome, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "--home", str(home.root), "up", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} never came; output so far:\n" + "\n".join(self.lines))

    def stop(self, sig: int, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.wait_for("appliance up: stopped", 5)
        return code


@pytest.mark.slow
def test_up_runs_jobs_logs_each_run_and_stops_cleanly_on_sigterm(
    home: DataHome,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    only_ingest_every_second(home)
    service = Service(home)
    try:
        service.wait_for("scheduler started")
        line = service.wait_for("job ingest run 1 ok")
        assert "(schedule): 0 file(s) ingested" in line
        second = run_cli("up")  # one service per home
        assert second.exit_code == 2 and "appliance up is already running" in second.stderr
    finally:
        code = service.stop(signal.SIGTERM)
    assert code == 0
    text = "\n".join(service.lines)
    assert "INFO appliance: stopping: no new work is accepted" in text
    assert "INFO appliance: scheduler stopped" in text
    assert "Traceback" not in text
    db = connect(home.db_path)
    history = records.list_runs(db, "ingest")
    assert history and all(r.trigger == "schedule" and r.status == "ok" for r in history)
    db.close()


@pytest.mark.slow
def test_up_logs_json_lines_and_stops_on_sigint(home: DataHome) -> None:
    only_ingest_every_second(home)
    service = Service(home, "--log-format", "json")
    try:
        service.wait_for('"status": "ok"')
    finally:
        code = service.stop(signal.SIGINT)
    assert code == 0
    entries = [json.loads(line) for line in service.lines]  # every line is one JSON object
    run = next(e for e in entries if e.get("status") == "ok")
    assert run["job"] == "ingest" and run["trigger"] == "schedule" and run["level"] == "INFO"
    assert {"at", "logger", "message"} <= set(run)
    assert entries[-1]["event"] == "stopped"


def test_up_refuses_a_broken_config_in_one_line(
    home: DataHome,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    home.config_path.write_text('[service]\nlog_format = "xml"\n')
    out = run_cli("up")
    assert out.exit_code == 4
    assert out.stderr.strip().endswith("[service]: log_format must be one of plain, json")
    assert len(out.stderr.strip().splitlines()) == 1
