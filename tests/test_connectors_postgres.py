"""`appliance publish --to postgresql://...` against a real PostgreSQL server this module
starts (initdb in a temporary folder, TCP on loopback). .ci/run installs Debian's
postgresql; without its binaries these tests skip, saying so."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlite_utils import Database

from appliance.home import DataHome
from connectors.catalogue import TABLES
from connectors.errors import ConnectorError, PublishError
from connectors.postgres import check_url, publish_postgres
from connectors.publisher import publish
from tests.connectors_data import add_outcomes, add_predictions, fill_store

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres_user() -> tuple[list[str], str | None]:
    """initdb refuses to run as root: run the server as an ordinary user then."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", user, "--"], user
    pytest.skip("running as root without runuser or a postgres/nobody user to run initdb as")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not BINARIES:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql;"
                    " .ci/run does it)")  # fmt: skip
    bin_dir = Path(BINARIES[-1])
    prefix, user = _as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
    if user is not None:
        shutil.chown(root, user)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "appliance", "--no-sync"], check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                    str(root / "log"), "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://appliance@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


@pytest.fixture
def schema(pg_url: str, request: pytest.FixtureRequest) -> str:
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    return name


def test_copy_is_typed_documented_incremental_and_idempotent(
    home: DataHome, db: Database, pg_url: str, schema: str
) -> None:
    fill_store(db, 30)
    publish(home, db)
    counts = publish_postgres(home, pg_url, schema=schema)
    assert counts["scores"] == 36 and counts["job_runs"] == 6 and counts["alerts"] == 1
    assert publish_postgres(home, pg_url, schema=schema) == counts  # idempotent
    assert query(pg_url, f"SELECT count(*), count(DISTINCT prediction_id) FROM {schema}.scores"
                 ) == [(36, 36)]  # fmt: skip
    kinds = dict(query(pg_url, "SELECT column_name, data_type FROM information_schema.columns"
                               f" WHERE table_schema = '{schema}' AND table_name = 'scores'"))
    assert kinds["scored_at"] == "timestamp without time zone"
    assert kinds["scored_date"] == "date" and kinds["served"] == "boolean"
    assert kinds["probability"] == "double precision" and kinds["version"] == "bigint"
    comment = query(pg_url, f"SELECT col_description('{schema}.scores'::regclass, 3)")
    assert comment == [("When the request arrived (UTC)",)]
    # new scores are appended, outcomes of older rows updated, nothing copied twice
    add_predictions(db, 4, start=501)
    add_outcomes(db, [{"request_id": "r-7", "outcome": 1, "observed_at": "2025-04-01"}])
    publish(home, db)
    again = publish_postgres(home, pg_url, schema=schema)
    assert again["scores"] == 40
    assert query(pg_url, f"SELECT outcome, outcome_observed_at::text FROM {schema}.scores"
                         " WHERE request_id = 'r-7'") == [(1, "2025-04-01")]  # fmt: skip
    stored = db.execute("SELECT sum(probability) FROM predictions").fetchone()[0]
    assert query(pg_url, f"SELECT sum(probability) FROM {schema}.scores")[0][0] == pytest.approx(
        stored)


def test_a_changed_table_is_recreated_and_full_rebuilds(
    home: DataHome, db: Database, pg_url: str, schema: str
) -> None:
    fill_store(db, 5)
    publish(home, db)
    publish_postgres(home, pg_url, schema=schema)
    with psycopg.connect(pg_url) as conn:  # someone edits the copy by hand
        conn.execute(f"DELETE FROM {schema}.job_runs WHERE run_id = 1")
        conn.execute(f"UPDATE {schema}._appliance_publish SET version = 99"
                     " WHERE table_name = 'scores'")  # fmt: skip
    counts = publish_postgres(home, pg_url, schema=schema)  # job_runs replaced, scores rebuilt
    assert counts["job_runs"] == 6 and counts["scores"] == 6
    assert publish_postgres(home, pg_url, schema=schema, full=True) == counts


def test_bad_targets_say_what_is_wrong(home: DataHome, db: Database, pg_url: str,
                                       run_cli: Callable[..., object]) -> None:  # fmt: skip
    with pytest.raises(ConnectorError, match="must be a PostgreSQL URL"):
        check_url("https://example.org/db")
    with pytest.raises(PublishError, match="nothing is published yet"):
        publish_postgres(home, pg_url)
    fill_store(db, 3)
    publish(home, db)
    with pytest.raises(ConnectorError, match=re.escape(
            "cannot connect to PostgreSQL at postgresql://x:***@127.0.0.1:1/db")):
        publish_postgres(home, "postgresql://x:secret@127.0.0.1:1/db")
    with pytest.raises(ConnectorError, match="--pg-schema"):
        publish_postgres(home, pg_url, schema="Robert'); DROP")
    out = run_cli("publish", "--to", pg_url, "--pg-schema", "cli_copy")
    assert out.exit_code == 0, out.stderr  # type: ignore[attr-defined]
    assert "PostgreSQL schema cli_copy: scores 4" in out.stdout  # type: ignore[attr-defined]
    assert {t[0] for t in query(pg_url, "SELECT table_name FROM information_schema.tables"
                                        " WHERE table_schema = 'cli_copy'")} == {
        *(t.name for t in TABLES), "_appliance_publish"}
