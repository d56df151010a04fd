"""`appliance jobs list|run|history` through the real entry point, on real homes."""

from __future__ import annotations

import json

from appliance.home import DataHome
from scheduler.catalogue import CATALOGUE
from scheduler.config import load_config
from tests.conftest import CliOutcome


def test_list_shows_the_configured_jobs(run_cli, home: DataHome) -> None:  # type: ignore[no-untyped-def]
    out: CliOutcome = run_cli("jobs", "list")
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    configured = [j.name for j in load_config(home).jobs]
    assert sorted(configured) == sorted(CATALOGUE)  # every kind of job ships configured
    assert [line.split()[0] for line in lines[1 : 1 + len(configured)]] == configured
    assert "every 15m" in lines[1] and "(worker)" in lines[1] and "never" in lines[1]
    assert "appliance up is not running" in out.stdout
    listed = json.loads(run_cli("jobs", "list", "--json").stdout)
    assert {j["job"]: j["heavy"] for j in listed["jobs"]} == {
        name: kind.heavy for name, kind in CATALOGUE.items()
    }
    assert not CATALOGUE["housekeeping"].heavy and CATALOGUE["retrain"].heavy
    assert all(j["next_due"] for j in listed["jobs"]) and listed["alerts"] == []


def test_run_sweeps_the_inbox_in_a_worker_and_history_records_it(
    run_cli,
    home: DataHome,  # type: ignore[no-untyped-def]
) -> None:
    assert run_cli("demo-data", "--rows", "200").exit_code == 0
    out = run_cli("jobs", "run", "ingest")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.startswith("job ingest run 1 ok in ")
    assert "8 file(s) ingested" in out.stdout and "lake/credit_applications/" in out.stdout
    assert not [p for p in home.dir("inbox").iterdir() if p.suffix == ".csv"]
    again = run_cli("jobs", "run", "ingest")
    assert "run 2 ok" in again.stdout and "0 file(s) ingested, 0 row(s)" in again.stdout
    [second, first] = json.loads(run_cli("jobs", "history", "ingest", "--json").stdout)
    assert (first["trigger"], first["status"], first["attempt"]) == ("manual", "ok", 1)
    assert first["rows"] > 1000 and len(first["artifacts"]) == 8 and second["rows"] == 0
    assert first["pid"] > 0 and first["seconds"] >= 0
    table = run_cli("jobs", "history").stdout.splitlines()
    assert table[0].split()[:4] == ["run", "job", "trigger", "try"]
    assert table[1].split()[:4] == ["2", "ingest", "manual", "1"]


def test_a_failing_run_exits_non_zero_and_is_alerted(run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("jobs", "run", "retrain")
    assert out.exit_code == 9
    assert out.stderr.strip().splitlines()[-1].startswith("error: job retrain run 1 failed: ")
    assert "no dataset named 'credit_applications'" in out.stderr
    listed = run_cli("jobs", "list")
    assert "alert " in listed.stdout and "job retrain failed" in listed.stdout
    assert "#1 failed" in listed.stdout
    history = run_cli("jobs", "history", "retrain").stdout
    assert "failed" in history and "no dataset named" in history


def test_unknown_jobs_and_broken_configs_are_one_line_errors(
    run_cli,
    home: DataHome,  # type: ignore[no-untyped-def]
) -> None:
    out = run_cli("jobs", "run", "nosuch")
    assert out.exit_code == 3
    assert "no job named 'nosuch'" in out.stderr and "ingest, imagery, retrain" in out.stderr
    assert run_cli("jobs", "history", "nosuch").stdout.strip() == "no runs of 'nosuch' yet"
    home.config_path.write_text('[jobs.ingest]\nevery = "15m"\ncron = "* * * * *"\n')
    broken = run_cli("jobs", "list")
    assert broken.exit_code == 4
    assert broken.stderr.strip() == (
        f"error: {home.config_path}: [jobs.ingest]: give exactly one of `every` or `cron`"
    )
