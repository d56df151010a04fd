"""The Flight SQL endpoint against the ADBC Flight SQL driver (which we did not write, so
it proves compatibility) and plain pyarrow.flight, on loopback, over a real published
home: auth, statements, prepared statements, metadata, refusals, TLS, refresh."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.access import create_key, revoke_key
from appliance.access.tls import self_signed, write_pair
from appliance.home import DataHome
from appliance.store.db import connect
from connectors.errors import ConnectorError
from connectors.flightsql.auth import parse_authorization
from connectors.flightsql.service import FlightService
from connectors.publisher import publish
from tests.connectors_data import add_predictions, fill_store


@dataclass
class Endpoint:
    home: DataHome
    service: FlightService
    analyst: str
    scorer: str
    admin: str

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.service.bound_port}"

    def connect(self, user: str = "bi", key: str | None = None) -> flightsql.Connection:
        return flightsql.connect(self.uri, db_kwargs={"username": user,
                                                      "password": key or self.analyst},
                                 autocommit=True)  # fmt: skip


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    home = DataHome(tmp_path_factory.mktemp("flight") / "home")
    home.layout()
    db = connect(home.db_path)
    fill_store(db, 10_000)  # 12,000 score rows
    publish(home, db)
    keys = {role: create_key(db, role, name, actor="test")[1]
            for role, name in (("analyst", "bi"), ("scorer", "teller"), ("admin", "ops"))}
    db.close()
    service = FlightService(home, port=0, batch_rows=2_500)
    service.start()
    try:
        yield Endpoint(home, service, keys["analyst"], keys["scorer"], keys["admin"])
    finally:
        service.stop(5)


def test_statements_and_prepared_statements(endpoint: Endpoint) -> None:
    db = connect(endpoint.home.db_path)
    expected = db.execute("SELECT count(*), sum(probability) FROM predictions").fetchone()
    db.close()
    with endpoint.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n, sum(probability) AS p FROM scores")
        n, p = cur.fetchone()  # type: ignore[misc]
        assert n == expected[0] and p == pytest.approx(expected[1])
        cur.execute("SELECT prediction_id, decision, scored_at FROM scores"
                    " WHERE prediction_id BETWEEN ? AND ? ORDER BY 1", parameters=(3, 5))
        rows = cur.fetchall()
        assert [r[0] for r in rows] == [3, 4, 5]
        assert str(rows[0][2]) == "2025-01-01 00:01:00"
        cur.execute("SELECT outcome FROM scores WHERE request_id = ? ORDER BY prediction_id",
                    parameters=("r-1",))
        assert cur.fetchall() == [(1,)]
        cur.execute("SELECT * FROM scores")
        table = cur.fetch_arrow_table()
        assert table.num_rows == expected[0]
        assert table.schema.field("served").type == pa.bool_()
        assert table.schema.field("scored_date").type == pa.date32()


def test_metadata_objects_info_and_table_schema(endpoint: Endpoint) -> None:
    with endpoint.connect() as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        assert [c["catalog_name"] for c in objects] == ["appliance"]
        schemas = objects[0]["catalog_db_schemas"]
        assert [s["db_schema_name"] for s in schemas] == ["published"]
        tables = {t["table_name"]: t for t in schemas[0]["db_schema_tables"]}
        assert {"scores", "outcomes", "model_versions", "job_runs", "drift", "alerts"} <= set(
            tables)
        assert tables["scores"]["table_type"] == "TABLE"
        assert [c["column_name"] for c in tables["job_runs"]["table_columns"]][:3] == [
            "run_id", "job", "kind"]
        filtered = conn.adbc_get_objects(depth="tables", table_name_filter="model_%"
                                         ).read_all().to_pylist()  # fmt: skip
        names = [t["table_name"] for t in filtered[0]["catalog_db_schemas"][0]["db_schema_tables"]]
        assert names == ["model_metrics", "model_versions"]
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "scoring-appliance"
        schema = conn.adbc_get_table_schema("model_versions", catalog_filter="appliance",
                                            db_schema_filter="published")  # fmt: skip
        assert schema.field("is_production").type == pa.bool_()
        assert conn.adbc_get_table_types() == ["TABLE"]


@pytest.mark.parametrize(("sql", "message"), [
    ("DELETE FROM scores", "read-only: only SELECT queries are allowed, not DELETE"),
    ("CREATE TABLE x (a INT)", "not CREATE"),
    ("SELECT 1; DROP TABLE scores", "one statement at a time"),
    ("SELEC 1", "syntax error"),
    ("SELECT * FROM nope", "published tables: scores"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ("ATTACH '/tmp/x.db' AS x", "not ATTACH"),
])  # fmt: skip
def test_bad_queries_are_refused_and_the_server_stays_up(endpoint: Endpoint, sql: str,
                                                         message: str) -> None:  # fmt: skip
    with endpoint.connect() as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match=message):
            cur.execute(sql)
        cur.execute("SELECT count(*) FROM job_runs")
        assert cur.fetchone() == (6,)


def test_wrong_keys_and_roles_are_unauthenticated(endpoint: Endpoint) -> None:
    wrong = endpoint.analyst[:-1] + ("a" if endpoint.analyst[-1] != "a" else "b")
    for user, key in (("bi", wrong), ("someone-else", endpoint.analyst),
                      ("teller", endpoint.scorer)):
        with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED"):
            endpoint.connect(user, key).cursor().execute("SELECT 1")
    with endpoint.connect("ops", endpoint.admin) as conn, conn.cursor() as cur:  # admin reads
        cur.execute("SELECT 1 AS one")
        assert cur.fetchall() == [(1,)]
    client = flight.FlightClient(endpoint.uri)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(flight.Ticket(b"job_runs")).read_all()
    bogus = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer not-a-token")])
    with pytest.raises(flight.FlightUnauthenticatedError, match="unknown or expired"):
        client.do_get(flight.Ticket(b"job_runs"), bogus).read_all()


def test_a_revoked_key_loses_its_token(endpoint: Endpoint) -> None:
    db = connect(endpoint.home.db_path)
    key, text = create_key(db, "analyst", "leaver", actor="test")
    client = flight.FlightClient(endpoint.uri)
    token = client.authenticate_basic_token(b"leaver", text.encode())
    options = flight.FlightCallOptions(headers=[token])
    assert client.do_get(flight.Ticket(b"job_runs"), options).read_all().num_rows == 6
    revoke_key(db, key.id, actor="test")
    db.close()
    time.sleep(2.1)  # the key cache re-reads a key from the store every 2 s
    with pytest.raises(flight.FlightUnauthenticatedError, match="revoked"):
        client.do_get(flight.Ticket(b"job_runs"), options).read_all()


def test_plain_flight_lists_and_gets_tables_in_batches(endpoint: Endpoint) -> None:
    client = flight.FlightClient(endpoint.uri)
    options = flight.FlightCallOptions(
        headers=[client.authenticate_basic_token(b"bi", endpoint.analyst.encode())])
    listed = [f.descriptor.path[0] for f in client.list_flights(options=options)]
    assert listed[:2] == [b"scores", b"outcomes"]
    reader = client.do_get(flight.Ticket(b"scores"), options)
    sizes = [chunk.data.num_rows for chunk in reader]
    assert sum(sizes) >= 12_000 and max(sizes) <= 2_500 and len(sizes) >= 5
    with pytest.raises(flight.FlightError, match="no published table named 'secrets'"):
        client.do_get(flight.Ticket(b"secrets"), options).read_all()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("alerts"), options)
    assert info.schema.names[0] == "alert_id"


def test_a_new_publish_is_served_by_the_next_query(endpoint: Endpoint) -> None:
    with endpoint.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT max(prediction_id) FROM scores")
        (before,) = cur.fetchone()  # type: ignore[misc]
        db = connect(endpoint.home.db_path)
        add_predictions(db, 4, start=900_001)  # no shadow rows
        publish(endpoint.home, db)
        db.close()
        cur.execute("SELECT max(prediction_id) FROM scores")
        assert cur.fetchone() == (before + 4,)


def test_tls(endpoint: Endpoint, tmp_path: Path) -> None:
    pair = self_signed(("localhost", "127.0.0.1"), days=2)
    cert, key = write_pair(pair, tmp_path)
    service = FlightService(endpoint.home, port=0, tls_cert=cert, tls_key=key)
    service.start()
    try:
        uri = f"grpc+tls://127.0.0.1:{service.bound_port}"
        with flightsql.connect(uri, db_kwargs={
            "username": "bi", "password": endpoint.analyst,
            "adbc.flight.sql.client_option.tls_root_certs": pair.cert_pem.decode(),
        }, autocommit=True) as conn, conn.cursor() as cur:  # fmt: skip
            cur.execute("SELECT count(*) FROM alerts")
            assert cur.fetchone() == (1,)
        with pytest.raises(adbc_driver_manager.Error):  # plain text to a TLS port fails
            flightsql.connect(f"grpc://127.0.0.1:{service.bound_port}", db_kwargs={
                "username": "bi", "password": endpoint.analyst}).cursor().execute("SELECT 1")
    finally:
        service.stop(5)
    with pytest.raises(ConnectorError, match="both --tls-cert and --tls-key"):
        FlightService(endpoint.home, tls_cert=cert)


def test_a_port_in_use_is_a_clear_error(endpoint: Endpoint) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = FlightService(endpoint.home, port=taken.getsockname()[1])
        with pytest.raises(ConnectorError, match="cannot listen"):
            service.start()


@given(st.text(min_size=0, max_size=40).filter(lambda s: ":" not in s), st.text(max_size=60))
def test_basic_credentials_round_trip(user: str, secret: str) -> None:
    raw = base64.b64encode(f"{user}:{secret}".encode()).decode().rstrip("=")  # as Go sends it
    parsed = parse_authorization(f"Basic {raw}")
    assert parsed is not None and (parsed.username, parsed.secret) == (user, secret)
    assert parse_authorization(f"Bearer {raw}x").secret == f"{raw}x"  # type: ignore[union-attr]
    assert parse_authorization(raw) is None and parse_authorization(None) is None


@pytest.mark.slow
def test_the_flight_command_serves_until_sigterm(endpoint: Endpoint) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "appliance", "--home", str(endpoint.home.root), "flight",
         "--port", "0"], cwd=repo, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        line = ""
        while "Flight SQL on" not in line:
            line = child.stderr.readline()
            assert line, "the command ended before it listened"
        uri = line.split("Flight SQL on ")[1].split()[0]
        with flightsql.connect(uri, db_kwargs={"username": "bi", "password": endpoint.analyst},
                               autocommit=True) as conn, conn.cursor() as cur:  # fmt: skip
            cur.execute("SELECT count(*) FROM model_versions")
            assert cur.fetchone() == (3,)
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0


def _flight_sql(endpoint: Endpoint, command: bytes) -> pa.Table:
    """A metadata command sent as JDBC's driver sends it: GetFlightInfo, then DoGet."""
    client = flight.FlightClient(endpoint.uri)
    options = flight.FlightCallOptions(
        headers=[client.authenticate_basic_token(b"bi", endpoint.analyst.encode())])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.schema == info.schema
    return table


def test_primary_keys_are_the_catalogue_keys(endpoint: Endpoint) -> None:
    from connectors.flightsql.messages import pack

    keys = _flight_sql(endpoint, pack("CommandGetPrimaryKeys", table="model_versions"))
    assert keys.column("column_name").to_pylist() == ["model", "version"]
    assert keys.column("key_sequence").to_pylist() == [1, 2]
    assert set(keys.column("table_name").to_pylist()) == {"model_versions"}
    assert keys.schema.field("key_sequence").type == pa.int32()
    scores = _flight_sql(endpoint, pack("CommandGetPrimaryKeys", table="scores",
                                        catalog="appliance", db_schema="published"))  # fmt: skip
    assert scores.column("column_name").to_pylist() == ["prediction_id"]
    for command in (pack("CommandGetPrimaryKeys", table="outcomes"),  # no key
                    pack("CommandGetPrimaryKeys", table="nope"),
                    pack("CommandGetPrimaryKeys", table="scores", db_schema="other")):
        assert _flight_sql(endpoint, command).num_rows == 0
    # every declared key identifies the published rows: no duplicate, never empty
    with endpoint.connect() as conn, conn.cursor() as cur:
        from connectors.catalogue import TABLES

        for table in TABLES:
            if not table.unique_key:
                continue
            columns = ", ".join(table.unique_key)
            cur.execute(f"SELECT count(*), count(DISTINCT ({columns})) FROM {table.name}")
            total, distinct = cur.fetchone()  # type: ignore[misc]
            assert total == distinct, table.name


def test_xdbc_type_info_lists_the_column_types(endpoint: Endpoint) -> None:
    from connectors.flightsql.messages import pack

    types = _flight_sql(endpoint, pack("CommandGetXdbcTypeInfo")).to_pylist()
    by_name = {t["type_name"]: t for t in types}
    assert set(by_name) == {"BIGINT", "BOOLEAN", "DATE", "DOUBLE", "TIMESTAMP", "VARCHAR"}
    assert [t["data_type"] for t in types] == sorted(t["data_type"] for t in types)
    assert by_name["BIGINT"]["data_type"] == -5 and by_name["VARCHAR"]["data_type"] == 12
    assert (by_name["TIMESTAMP"]["sql_data_type"], by_name["TIMESTAMP"]["datetime_subcode"]) \
        == (9, 3)  # fmt: skip
    only = _flight_sql(endpoint, pack("CommandGetXdbcTypeInfo", data_type=91)).to_pylist()
    assert [t["type_name"] for t in only] == ["DATE"]
    assert _flight_sql(endpoint, pack("CommandGetXdbcTypeInfo", data_type=2)).num_rows == 0


def test_the_home_certificate_pair_turns_tls_on(endpoint: Endpoint) -> None:
    import shutil

    from connectors.flightsql.service import HOME_TLS

    folder = endpoint.home.root / HOME_TLS[0]
    assert FlightService.for_home(endpoint.home, host="127.0.0.1", port=0).tls_cert is None
    pair = self_signed(("localhost", "127.0.0.1"), days=2)
    write_pair(pair, folder)
    try:
        service = FlightService.for_home(endpoint.home, host="127.0.0.1", port=0)
        service.start()
        try:
            assert service.location.startswith("grpc+tls://")
            with flightsql.connect(service.location, db_kwargs={
                "username": "bi", "password": endpoint.analyst,
                "adbc.flight.sql.client_option.tls_root_certs": pair.cert_pem.decode(),
            }, autocommit=True) as conn, conn.cursor() as cur:  # fmt: skip
                cur.execute("SELECT count(*) FROM model_versions")
                assert cur.fetchone() == (3,)
            with pytest.raises(adbc_driver_manager.Error):  # plain gRPC is refused
                flightsql.connect(f"grpc://127.0.0.1:{service.bound_port}", db_kwargs={
                    "username": "bi", "password": endpoint.analyst}).cursor().execute("SELECT 1")
        finally:
            service.stop(5)
        (folder / HOME_TLS[2]).unlink()
        with pytest.raises(ConnectorError, match=r"half configured.*key\.pem does not"):
            FlightService.for_home(endpoint.home, host="127.0.0.1", port=0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_appliance_up_serves_flight_sql_over_tls_with_the_home_pair(tmp_path: Path) -> None:
    """`appliance up` itself: the home's pair in tls/, the ADBC driver trusting it."""
    import signal
    import socket
    import subprocess
    import sys

    from connectors.flightsql.service import HOME_TLS

    home = DataHome(tmp_path / "home")
    home.layout()
    db = connect(home.db_path)
    key = create_key(db, "analyst", "bi", actor="test")[1]
    db.close()
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    home.config_path.write_text(f"[service]\napi_port = {ports[0]}\nflight_port = {ports[1]}\n")
    pair = self_signed(("localhost", "127.0.0.1"), days=2)
    write_pair(pair, home.root / HOME_TLS[0])
    child = subprocess.Popen([sys.executable, "-m", "appliance", "--home", str(home.root), "up"],
                             cwd=Path(__file__).resolve().parents[1],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    secure = {"username": "bi", "password": key,
              "adbc.flight.sql.client_option.tls_root_certs": pair.cert_pem.decode()}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with flightsql.connect(f"grpc+tls://127.0.0.1:{ports[1]}", db_kwargs=secure,
                                       autocommit=True) as conn, conn.cursor() as cur:  # fmt: skip
                    cur.execute("SELECT 41 + 1 AS answer")
                    assert cur.fetchone() == (42,)
                    break
            except adbc_driver_manager.Error:
                assert child.poll() is None, "appliance up ended"
                assert time.monotonic() < deadline, "Flight SQL never answered over TLS"
                time.sleep(0.5)
        with pytest.raises(adbc_driver_manager.Error):
            flightsql.connect(f"grpc://127.0.0.1:{ports[1]}", db_kwargs={
                "username": "bi", "password": key}).cursor().execute("SELECT 1")
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)
