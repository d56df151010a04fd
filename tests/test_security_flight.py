"""Attacks on the Flight SQL endpoint through the ADBC Flight SQL driver (a client we did
not write) and plain pyarrow.flight: SQL injection through the parameters of prepared
statements, and writes through every Flight SQL update command. A parameter is a value,
never SQL: the result is what the literal would match; nothing is ever written.

The endpoint fixture (a published home of 12,000 score rows, keys per role) is the one of
tests/test_connectors_flight.py; refusals of unauthenticated calls and of non-SELECT
statements are tested there.
"""

from __future__ import annotations

import hashlib
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.store.db import connect
from connectors.flightsql.messages import pack
from tests.test_connectors_flight import Endpoint, endpoint  # noqa: F401

INJECTIONS = [
    "x' OR 1=1 --",
    "'; DROP TABLE scores; --",
    "r-1' OR '1'='1",
    "r-1'--",
    "r-1' UNION SELECT request_id FROM scores --",
    "' UNION SELECT name FROM sqlite_master --",
    "r-1; DELETE FROM scores",
    "1; SELECT * FROM read_csv('/etc/passwd')",
    "'||(SELECT count(*) FROM scores)||'",
    "r-%",
    "%",
    "r-1\x00' OR 1=1",
    "\\'; DROP TABLE scores; --",
    "$1",
    "?",
]
_REFUSED = "read-only: updates, inserts and ingestion are refused"


def fingerprint(at: Endpoint) -> tuple[int, str]:
    """The store's prediction count and a digest of every published file."""
    db = connect(at.home.db_path)
    try:
        (rows,) = db.execute("SELECT count(*) FROM predictions").fetchone()
    finally:
        db.close()
    digest = hashlib.sha256()
    for path in sorted(at.home.dir("publish").rglob("*")):
        if path.is_file() and path.name != ".publish.lock":
            digest.update(str(path.relative_to(at.home.root)).encode())
            digest.update(path.read_bytes())
    return rows, digest.hexdigest()


def matching(at: Endpoint, request_id: str) -> int:
    """How many score rows have this request id, asked of the store itself."""
    db = connect(at.home.db_path)
    try:
        return int(db.execute("SELECT count(*) FROM predictions WHERE request_id = ?",
                              [request_id]).fetchone()[0])  # fmt: skip
    finally:
        db.close()


@pytest.fixture(scope="module")
def untouched(endpoint: Endpoint) -> Any:  # noqa: F811
    """Checks, once the module's tests are done, that the store and the files are as the
    first test found them."""
    before = fingerprint(endpoint)
    yield before
    assert fingerprint(endpoint) == before


def test_injection_through_a_parameter_is_only_ever_a_value(
    endpoint: Endpoint, untouched: Any  # noqa: F811
) -> None:
    with endpoint.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scores WHERE request_id = ?", parameters=("r-1",))
        assert cur.fetchone() == (matching(endpoint, "r-1"),) != (0,)  # binding works
        for value in INJECTIONS:
            cur.execute("SELECT count(*) FROM scores WHERE request_id = ?", parameters=(value,))
            assert cur.fetchone() == (0,), value
            cur.execute("SELECT request_id FROM scores WHERE request_id = ? OR request_id = ?",
                        parameters=(value, "r-2"))  # fmt: skip
            assert cur.fetchall() == [("r-2",)], value
        cur.execute("SELECT count(*) FROM scores")
        (total,) = cur.fetchone()  # type: ignore[misc]
        assert total >= 12_000  # the table is all there


def test_sql_in_a_number_parameter_is_refused_as_not_a_number(
    endpoint: Endpoint, untouched: Any  # noqa: F811
) -> None:
    with endpoint.connect() as conn, conn.cursor() as cur:
        for value in ("1 OR 1=1", "1; DROP TABLE scores", "0) OR (1=1", "3 --"):
            with pytest.raises(adbc_driver_manager.Error, match="Could not convert string"):
                cur.execute("SELECT count(*) FROM scores WHERE prediction_id = ?",
                            parameters=(value,))  # fmt: skip
                cur.fetchall()
        cur.execute("SELECT count(*) FROM scores WHERE prediction_id = ?", parameters=(3,))
        assert cur.fetchone() == (1,)  # the connection still works
        cur.execute("SELECT count(*) FROM scores WHERE prediction_id = ?", parameters=("3",))
        assert cur.fetchone() == (1,)  # a number sent as text is just that number


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(value=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
       | st.sampled_from(["r-7", "r-11", "r-9999"]))  # fmt: skip
def test_any_text_as_a_parameter_matches_exactly_what_the_store_holds(
    endpoint: Endpoint, value: str  # noqa: F811
) -> None:
    with endpoint.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scores WHERE request_id = ?", parameters=(value,))
        assert cur.fetchone() == (matching(endpoint, value),)


def test_updates_and_ingestion_through_adbc_are_refused(
    endpoint: Endpoint, untouched: Any  # noqa: F811
) -> None:
    rows = pa.table({"request_id": ["evil"], "probability": [1.0]})
    with endpoint.connect("ops", endpoint.admin) as conn, conn.cursor() as cur:  # even admin
        for sql in ("DELETE FROM scores", "INSERT INTO scores (request_id) VALUES ('evil')",
                    "SELECT 1"):  # an update command is refused whatever it carries
            statement = cur.adbc_statement
            statement.set_sql_query(sql)
            with pytest.raises(adbc_driver_manager.Error, match=_REFUSED):
                statement.execute_update()  # CommandStatementUpdate
        cur.adbc_prepare("SELECT count(*) FROM scores WHERE request_id = ?")
        with pytest.raises(adbc_driver_manager.Error, match=_REFUSED):
            cur.adbc_statement.execute_update()  # CommandPreparedStatementUpdate
        with pytest.raises(adbc_driver_manager.Error, match="read-only"):
            cur.executemany("INSERT INTO scores (request_id) VALUES (?)", [("evil",)])
        for mode in ("append", "create", "replace"):
            with pytest.raises(adbc_driver_manager.Error, match=_REFUSED):
                cur.adbc_ingest("scores" if mode != "create" else "evil", rows, mode=mode)
    with endpoint.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scores WHERE request_id = 'evil'")
        assert cur.fetchone() == (0,)


@pytest.mark.parametrize("command", [
    pack("CommandStatementUpdate", query="DELETE FROM scores"),
    pack("CommandPreparedStatementUpdate", prepared_statement_handle=b"\x00" * 16),
    pack("CommandStatementIngest"),
], ids=["statement update", "prepared statement update", "ingest"])  # fmt: skip
def test_every_write_command_over_plain_flight_is_refused(
    endpoint: Endpoint, untouched: Any, command: bytes  # noqa: F811
) -> None:
    client = flight.FlightClient(endpoint.uri)
    options = flight.FlightCallOptions(
        headers=[client.authenticate_basic_token(b"ops", endpoint.admin.encode())])
    schema = pa.schema([("request_id", pa.string())])
    writer, _reader = client.do_put(flight.FlightDescriptor.for_command(command), schema, options)
    with pytest.raises(flight.FlightUnauthorizedError, match=_REFUSED):
        writer.write_table(pa.table({"request_id": ["evil"]}, schema=schema))
        writer.close()
    with pytest.raises(flight.FlightUnauthorizedError, match=_REFUSED):
        client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    with pytest.raises(flight.FlightUnauthenticatedError):  # and without a key, not even that
        writer, _reader = flight.FlightClient(endpoint.uri).do_put(
            flight.FlightDescriptor.for_command(command), schema)
        writer.write_table(pa.table({"request_id": ["evil"]}, schema=schema))
        writer.close()
