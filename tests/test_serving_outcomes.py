"""Outcomes against a real store whose predictions came through the real prediction log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from appliance.serving.outcomes import (
    MAX_ITEMS,
    OutcomesInvalid,
    OutcomesTooMany,
    OutcomesUnavailable,
    record_outcomes,
)
from appliance.serving.predlog import PredictionLog, PredictionRecord
from appliance.store.db import connect

TODAY = date(2025, 3, 10)


def _logged(path: Path) -> None:
    """Requests r0..r9 by the credit model (r0..r4 with a shadow too); application a1 was
    scored by credit and by fraud, a2 by credit only."""
    log = PredictionLog(path).start()

    def submit(rid: str, model: str, role: str = "production", app: str | None = None) -> None:
        log.submit(PredictionRecord(
            request_id=rid, model=model, version=2, role=role, served=role != "shadow",
            input={}, features={}, probability=0.1, decision="approve", latency_ms=1.0,
            application_id=app,
        ))  # fmt: skip

    for i in range(10):
        submit(f"r{i}", "credit")
        if i < 5:
            submit(f"r{i}", "credit", role="shadow")
    submit("ra", "credit", app="a1")
    submit("rb", "fraud", app="a1")
    submit("rc", "credit", app="a2")
    assert log.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    db = connect(tmp_path / "appliance.db")
    _logged(tmp_path / "appliance.db")
    yield db
    db.close()


def outcomes(db: Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM outcomes ORDER BY id"))


def audit_actions(db: Database) -> list[str]:
    return [r["action"] for r in db.query("SELECT action FROM audit_log ORDER BY seq")]


def test_outcomes_by_request_and_by_application_are_stored(store: Database) -> None:
    items = [
        {"request_id": "r1", "outcome": 1, "observed_at": "2025-02-01"},
        {"application_id": "a2", "outcome": False},
        {"application_id": "a1", "model": "fraud", "outcome": "true"},
    ]
    report = record_outcomes(store, items, key_id="k7", today=TODAY)
    assert report.to_dict() == {
        "accepted": 3, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": []
    }  # fmt: skip
    columns = ("request_id", "application_id", "model", "outcome", "observed_at", "key_id")
    got = [tuple(r[c] for c in columns) for r in outcomes(store)]
    assert got == [
        ("r1", None, "credit", 1, "2025-02-01", "k7"),
        (None, "a2", "credit", 0, "2025-03-10", "k7"),
        (None, "a1", "fraud", 1, "2025-03-10", "k7"),
    ]
    assert audit_actions(store)[-1] == "outcomes.record"


def test_posting_the_same_outcome_twice_keeps_one_row(store: Database) -> None:
    items = [{"request_id": "r2", "outcome": 0, "observed_at": "2025-01-05"}]
    first = record_outcomes(store, items, key_id="k", today=TODAY)
    entries = len(audit_actions(store))
    again = record_outcomes(store, items, key_id="k", today=TODAY)
    without_date = record_outcomes(store, [{"request_id": "r2", "outcome": 0}], key_id="k")
    assert (first.inserted, again.unchanged, without_date.unchanged) == (1, 1, 1)
    assert len(outcomes(store)) == 1
    assert len(audit_actions(store)) == entries  # nothing changed, nothing audited


def test_a_changed_outcome_is_an_audited_update(store: Database) -> None:
    record_outcomes(store, [{"request_id": "r3", "outcome": 0}], key_id="k1", today=TODAY)
    report = record_outcomes(
        store, [{"request_id": "r3", "outcome": 1, "observed_at": "2025-03-01"}], key_id="k2"
    )
    assert (report.updated, report.inserted) == (1, 0)
    (row,) = outcomes(store)
    assert (row["outcome"], row["observed_at"], row["key_id"]) == (1, "2025-03-01", "k2")
    assert row["updated_at"] is not None
    change = store.execute(
        "SELECT subject, details FROM audit_log WHERE action = 'outcome.change'"
    ).fetchone()
    assert change[0] == "outcome r3 (credit)"
    details = json.loads(change[1])
    assert details["outcome"] == [0, 1] and details["observed_at"] == ["2025-03-10", "2025-03-01"]


def test_bad_items_are_rejected_one_by_one_and_good_ones_kept(store: Database) -> None:
    items: list[Any] = [
        {"request_id": "nope", "outcome": 1},
        {"request_id": "r4", "outcome": 1},
        {"application_id": "a1", "outcome": 1},
        {"request_id": "r5", "model": "fraud", "outcome": 1},
        {"application_id": "a1", "model": "propensity", "outcome": 0},
        {"request_id": "r6", "outcome": 2},
        {"request_id": "r6", "outcome": 1, "observed_at": "2025-03-20"},
        {"request_id": "r6", "outcome": 1, "observed_at": "last tuesday"},
        {"request_id": "r6", "application_id": "a2", "outcome": 1},
        {"outcome": 1},
        {"request_id": "r6", "outcome": 1, "colour": "red"},
        ["r6", 1],
        {"request_id": "x" * 201, "outcome": 1},
        {"request_id": "  ", "outcome": 1},
        {"request_id": "r7"},
    ]
    report = record_outcomes(store, items, key_id="k", today=TODAY)
    assert report.inserted == 1
    assert [(r.index, r.field) for r in report.rejected] == [
        (0, "request_id"), (2, "model"), (3, "model"), (4, "model"), (5, "outcome"),
        (6, "observed_at"), (7, "observed_at"), (8, "request_id"), (9, "request_id"),
        (10, "colour"), (11, "(item)"), (12, "request_id"), (13, "request_id"), (14, "outcome"),
    ]  # fmt: skip
    reasons = {r.index: r.reason for r in report.rejected}
    assert "no logged prediction has request id 'nope'" in reasons[0]
    assert "'credit', 'fraud': name the model" in reasons[2]
    assert "scored by 'credit', not 'fraud'" in reasons[3]
    assert "2025-03-20 is in the future" in reasons[6]
    assert "not both" in reasons[8] and "unknown field" in reasons[10]
    assert "at most 200" in reasons[12] and reasons[14].startswith("missing")
    assert [r["request_id"] for r in outcomes(store)] == ["r4"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [(True, 1), (False, 0), (1, 1), (0, 0), ("TRUE", 1), ("false", 0), ("1", 1), (" 0 ", 0)],
)
def test_outcome_spellings(store: Database, given: Any, stored: int) -> None:
    report = record_outcomes(store, [{"request_id": "r8", "outcome": given}], key_id=None)
    assert report.inserted == 1 and outcomes(store)[0]["outcome"] == stored


@pytest.mark.parametrize("given", [2, -1, 0.5, 1.0, "yes", "", None, [1], {"v": 1}])
def test_outcomes_that_are_not_0_or_1_are_rejected(store: Database, given: Any) -> None:
    report = record_outcomes(store, [{"request_id": "r8", "outcome": given}], key_id=None)
    assert report.accepted == 0 and report.rejected[0].field == "outcome"


@pytest.mark.parametrize(("item", "field", "reason"), [
    ({"request_id": "r8", "actual": 1234.5}, "actual",
     "'credit' is a classifier: give outcome 0 or 1"),
    ({"request_id": "r8", "actual": "1234"}, "actual", "must be a number"),
    ({"request_id": "r8", "actual": float("nan")}, "actual", "must be a finite number"),
    ({"request_id": "r8", "actual": 5.0, "outcome": 1}, "actual", "not both"),
])  # fmt: skip
def test_an_amount_is_only_for_a_regression_and_must_be_a_number(
    store: Database, item: dict[str, Any], field: str, reason: str
) -> None:
    report = record_outcomes(store, [item], key_id=None)
    assert report.accepted == 0 and report.rejected[0].field == field
    assert reason in report.rejected[0].reason
    assert outcomes(store) == []


def test_an_observed_time_is_kept_as_its_utc_date(store: Database) -> None:
    item = {"request_id": "r9", "outcome": 1, "observed_at": "2025-02-01T22:30:00-03:00"}
    record_outcomes(store, [item], key_id=None, today=TODAY)
    assert outcomes(store)[0]["observed_at"] == "2025-02-02"


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ([], OutcomesInvalid, "the array is empty"),
        ({"request_id": "r1", "outcome": 1}, OutcomesInvalid, "got an object"),
        ("r1,1", OutcomesInvalid, "got a string"),
        (None, OutcomesInvalid, "got null"),
        ([{"request_id": "r1", "outcome": 1}] * (MAX_ITEMS + 1), OutcomesTooMany, "at most"),
    ],
)
def test_a_malformed_body_is_one_clear_error(
    store: Database, body: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        record_outcomes(store, body, key_id=None)
    assert caught.value.http_status in (413, 422)  # type: ignore[attr-defined]
    assert outcomes(store) == []


def test_a_locked_store_is_a_retryable_error_and_stores_nothing(
    store: Database, tmp_path: Path
) -> None:
    store.execute("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(tmp_path / "appliance.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a long retrain writing the registry
    try:
        with pytest.raises(OutcomesUnavailable, match="send them again") as caught:
            record_outcomes(store, [{"request_id": "r1", "outcome": 1}], key_id=None)
        assert caught.value.http_status == 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert outcomes(store) == [] and not store.conn.in_transaction
    assert record_outcomes(store, [{"request_id": "r1", "outcome": 1}], key_id=None).inserted == 1


# -- property: whatever the items, no exception, and every one accounted for -------------
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=8)
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


json_value = st.recursive(json_leaf, _nested, max_leaves=6)
known_ids = st.sampled_from(["r0", "r1", "r5", "ra", "missing", ""])
field_value = {
    "request_id": known_ids | json_value,
    "application_id": st.sampled_from(["a1", "a2", "a9"]) | json_value,
    "model": st.sampled_from(["credit", "fraud"]) | json_value,
    "outcome": st.sampled_from([0, 1, True, "false"]) | json_value,
    "observed_at": st.sampled_from(["2025-01-01", "2030-01-01", "2025-13-01"]) | json_value,
}
item = st.one_of(
    st.fixed_dictionaries({}, optional=field_value),
    st.fixed_dictionaries({"request_id": known_ids, "outcome": st.sampled_from([0, 1])}),
    st.dictionaries(st.text(max_size=6), json_value, max_size=4),
    json_value,
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("outcomes") / "appliance.db"
    db = connect(path)
    _logged(path)
    yield db
    db.close()


@settings(max_examples=150, deadline=None)
@given(items=st.lists(item, min_size=1, max_size=8))
def test_any_items_are_each_accepted_or_rejected_with_a_reason(
    shared_store: Database, items: list[Any]
) -> None:
    report = record_outcomes(shared_store, items, key_id="prop", today=TODAY)
    assert report.accepted + len(report.rejected) == len(items)
    indexes = [r.index for r in report.rejected]
    assert indexes == sorted(set(indexes)) and all(0 <= i < len(items) for i in indexes)
    for rejection in report.rejected:
        assert rejection.reason and rejection.field
        thing = items[rejection.index]
        if isinstance(thing, dict):
            expected = ("(item)", "request_id", "model", "outcome")
            assert rejection.field in thing or rejection.field in expected
        else:
            assert rejection.field == "(item)"
    json.dumps(report.to_dict())  # the HTTP body it becomes
    bad = shared_store.execute(
        "SELECT count(*) FROM outcomes WHERE outcome NOT IN (0, 1) OR model IS NULL"
    ).fetchone()[0]
    assert bad == 0
