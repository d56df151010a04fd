"""Schedules, the catch-up rule and appliance.toml parsing: pure logic, no store."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import SchemaError
from appliance.home import DataHome
from scheduler.catalogue import CATALOGUE
from scheduler.catchup import decide_on_start, missed_runs
from scheduler.config import JobConfig, RetryPolicy, load_config, parse_config
from scheduler.schedule import Schedule, format_duration, parse_duration
from tests.scheduler_targets import config

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


def job(schedule: Schedule, **kw: object) -> JobConfig:
    return JobConfig(name="j", kind="tick", schedule=schedule, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), (90, 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800),
     ("0.05s", 0.05), (" 3 m ", 180)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "15 minutes", "-1", "1w", True, "nan"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(min_value=1, max_value=10**7))
def test_format_duration_reads_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_cron_weekday_numbers_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="by name"):
        Schedule.from_cron("0 2 * * 0", UTC)
    with pytest.raises(ValueError, match="five fields"):
        Schedule.from_cron("0 2 * *", UTC)
    with pytest.raises(ValueError, match="cron"):
        Schedule.from_cron("61 2 * * *", UTC)
    assert Schedule.from_cron("0 2 * * sun", UTC).describe() == "cron 0 2 * * sun"


def test_cron_next_after_is_strictly_later_and_in_the_zone() -> None:
    daily = Schedule.from_cron("0 3 * * *", UTC)
    assert daily.next_after(T0, T0) == T0.replace(hour=3)
    assert daily.next_after(T0.replace(hour=3), T0) == T0.replace(day=2, hour=3)
    from zoneinfo import ZoneInfo

    nairobi = Schedule.from_cron("0 3 * * *", ZoneInfo("Africa/Nairobi"))  # UTC+3
    assert nairobi.next_after(T0, T0) == T0.replace(day=2, hour=0)


@settings(max_examples=200)
@given(
    every=st.integers(min_value=1, max_value=10**6),
    gap=st.integers(min_value=0, max_value=10**8),
)
def test_missed_interval_runs_are_counted_exactly(every: int, gap: int) -> None:
    schedule = Schedule.every(every, UTC)
    count, latest = missed_runs(schedule, T0, T0 + timedelta(seconds=gap), cap=500)
    expected = min(gap // every, 500)
    assert count == expected
    assert latest == (T0 + timedelta(seconds=every * expected) if expected else None)


@settings(max_examples=200)
@given(
    every=st.integers(min_value=60, max_value=86400),
    gap=st.integers(min_value=0, max_value=30 * 86400),
    grace=st.integers(min_value=0, max_value=10 * 86400),
)
def test_catch_up_is_one_run_exactly_when_a_missed_run_is_within_the_grace(
    every: int, gap: int, grace: int
) -> None:
    now = T0 + timedelta(seconds=gap)
    decision = decide_on_start(job(Schedule.every(every, UTC), catch_up_grace_s=grace), T0, now)
    fires = gap // every
    latest = T0 + timedelta(seconds=every * fires)
    assert decision.run == (fires >= 1 and (now - latest).total_seconds() <= grace)
    assert decision.missed == min(fires, 1000)


def test_two_missed_daily_runs_give_one_catch_up_and_say_so() -> None:
    daily = job(Schedule.from_cron("0 3 * * *", UTC))
    decision = decide_on_start(daily, T0, T0 + timedelta(days=1, hours=5))
    assert decision.run and decision.missed == 2
    assert "missed 2 scheduled run(s)" in decision.reason and "one run" in decision.reason


def test_beyond_the_grace_nothing_runs_and_the_reason_names_the_grace() -> None:
    daily = job(Schedule.from_cron("0 3 * * *", UTC), catch_up_grace_s=3600)
    decision = decide_on_start(daily, T0, T0 + timedelta(days=9, hours=5))
    assert not decision.run and decision.missed == 10
    assert "the latest due 2h ago, beyond the catch-up grace of 1h" in decision.reason
    assert decide_on_start(daily, T0, T0 + timedelta(days=9, hours=4)).run  # 1h: still within


def test_first_start_disabled_and_interrupted() -> None:
    hourly = Schedule.every(3600, UTC)
    assert not decide_on_start(job(hourly), None, T0).run
    late = T0 + timedelta(days=1)
    assert not decide_on_start(job(hourly, enabled=False), T0, late).run
    rerun = decide_on_start(job(hourly), T0, T0 + timedelta(seconds=5), interrupted_run=41)
    assert rerun.run and rerun.rerun_of == 41


@given(
    st.integers(min_value=1, max_value=10),
    st.floats(min_value=0, max_value=600),
    st.floats(min_value=0, max_value=5000),
)
def test_backoff_doubles_up_to_its_cap(attempts: int, base: float, extra: float) -> None:
    policy = RetryPolicy(attempts, base, base + extra)
    delays = [policy.delay(n) for n in range(1, attempts + 1)]
    assert delays[0] == pytest.approx(min(base, base + extra))
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert all(d <= base + extra + 1e-9 for d in delays)
    for a, b in itertools.pairwise(delays):
        assert b == pytest.approx(min(2 * a, base + extra)) or math.isclose(a, base + extra)


def test_the_shipped_config_parses_with_the_real_catalogue(tmp_path: Path) -> None:
    home = DataHome(tmp_path / "home")
    home.layout()
    parsed = load_config(home)
    names = [j.name for j in parsed.jobs]
    assert names[:3] == ["ingest", "imagery", "retrain"] and names[-1] == "housekeeping"
    assert set(names) == set(CATALOGUE)  # every kind of job ships configured
    assert all(j.enabled for j in parsed.jobs)
    assert parsed.service.api_port == 8750 and parsed.service.log_format == "plain"
    assert parsed.job("retrain").timeout_s == 6 * 3600
    assert parsed.job("housekeeping").params["backup_keep"] == 7
    home.config_path.unlink()  # an older home: the shipped defaults apply
    assert "shipped defaults" in load_config(home).origin


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"jobs": {"a": {"kind": "tick", "every": "1m", "cronn": "x"}}},
         r"\[jobs.a\]: unknown key\(s\) cronn"),
        ({"jobs": {"a": {"kind": "tick"}}}, r"\[jobs.a\]: give exactly one of `every` or `cron`"),
        ({"jobs": {"a": {"kind": "tick", "every": "1m", "cron": "* * * * *"}}}, "exactly one"),
        ({"jobs": {"a": {"kind": "nosuch", "every": "1m"}}}, "no job kind 'nosuch'"),
        ({"jobs": {"a": {"kind": "tick", "every": "soon"}}}, r"\[jobs.a\]: 'soon' is not a dur"),
        ({"jobs": {"a b": {"kind": "tick", "every": "1m"}}}, "job name 'a b' is not allowed"),
        ({"jobs": {"a": {"kind": "tick", "every": "1m", "enabled": "yes"}}},
         "enabled must be a bool"),
        ({"service": {"api_port": 70000}}, r"\[service\]: api_port must be a port"),
        ({"service": {"api_port": 9000, "flight_port": 9000}}, "must differ"),
        ({"service": {"log_format": "xml"}}, "log_format must be one of plain, json"),
        ({"scheduler": {"timezone": "Mars/Olympus"}}, "not a known time zone"),
        ({"scheduler": {"retry_attempts": 0}}, "retry_attempts must be at least 1"),
    ],
)  # fmt: skip
def test_config_mistakes_name_the_table_and_key(data: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as caught:
        parse_config(data, "home/appliance.toml", {"tick"})
    assert str(caught.value).startswith("home/appliance.toml: ")


def test_job_settings_override_the_scheduler_defaults() -> None:
    parsed = config(
        {"a": {"kind": "tick", "every": "1m", "retry_attempts": 5, "catch_up_grace": "1h"},
         "b": {"kind": "tick", "cron": "*/5 * * * *", "enabled": False}},
        retry_attempts=2, catch_up_grace="2d",
    )  # fmt: skip
    a, b = parsed.jobs
    assert (a.retry.attempts, a.catch_up_grace_s) == (5, 3600)
    assert (b.retry.attempts, b.catch_up_grace_s, b.enabled) == (2, 2 * 86400, False)
    assert a.retry.backoff_s == pytest.approx(0.05)
