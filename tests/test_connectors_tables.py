"""The pure parts of the connectors: table declarations and their docs, type conversion,
the SQL and LookML builders, Flight SQL messages and metadata, statement classification."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import hyper
from connectors.catalogue import SUBJECTS, TABLES, metric_rows, table_named
from connectors.columns import Column, PublishedTable
from connectors.errors import ConnectorError, PublishError
from connectors.flightsql.engine import QueryEngine, QueryRefused
from connectors.flightsql.messages import pack, unpack
from connectors.flightsql.metadata import like, sql_info, tables
from connectors.lookml import project
from connectors.rows import to_batch

DOCS = Path(__file__).resolve().parents[1] / "docs" / "connectors.md"


def documented_tables() -> dict[str, dict[str, str]]:
    """``table -> column -> type`` from the tables in docs/connectors.md."""
    found: dict[str, dict[str, str]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            current = heading.group(1)
            found[current] = {}
        row = re.match(r"^\| `(\w+)` \| (\w+) \|", line)
        if row and current:
            found[current][row.group(1)] = row.group(2)
    return found


def test_every_published_column_is_documented_with_its_type() -> None:
    documented = documented_tables()
    for table in TABLES:
        assert documented.get(table.name) == {c.name: c.type for c in table.columns}, table.name
    assert SUBJECTS == ("scores", "models", "operations", "monitoring")


def test_table_declarations_refuse_mistakes() -> None:
    col = Column("a", "bigint", "an id", False)
    with pytest.raises(ValueError, match="lower_snake_case"):
        Column("Bad Name", "text", "x")
    with pytest.raises(ValueError, match="unknown type"):
        Column("a", "uuid", "x")
    with pytest.raises(ValueError, match="exactly one of sql and rows"):
        PublishedTable("t", "s", "doc", (col,))
    with pytest.raises(ValueError, match="key and mark_sql go together"):
        PublishedTable("t", "s", "doc", (col,), sql="SELECT 1", key="a")
    with pytest.raises(ValueError, match="unique"):
        PublishedTable("t", "s", "doc", (col, col), sql="SELECT 1, 2")
    with pytest.raises(ValueError, match="not numeric"):
        PublishedTable("t", "s", "doc", (Column("b", "text", "x"),), sql="SELECT 1",
                       checks=("b",))  # fmt: skip
    with pytest.raises(ValueError, match="no column 'zz'"):
        table_named("scores").column("zz")


def test_schema_fingerprints_change_with_columns_only() -> None:
    scores = table_named("scores")
    assert scores.schema_sha256() == table_named("scores").schema_sha256()
    fewer = PublishedTable("scores", "scores", "other doc", scores.columns[:-1], sql="SELECT 1")
    assert fewer.schema_sha256() != scores.schema_sha256()
    assert len({t.schema_sha256() for t in TABLES}) == len(TABLES)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
       st.integers(min_value=-14 * 60, max_value=14 * 60), st.sampled_from(["iso", "z", "naive"]))
def test_iso_times_become_utc_timestamps(moment: datetime, offset_min: int, style: str) -> None:
    zone = timezone(timedelta(minutes=offset_min))
    aware = moment.replace(tzinfo=zone)
    text = {"iso": aware.isoformat(), "naive": moment.isoformat(),
            "z": moment.isoformat() + "Z"}[style]  # fmt: skip
    expected = (aware.astimezone(UTC).replace(tzinfo=None) if style == "iso" else moment)
    table = PublishedTable("t", "s", "doc", (Column("at", "timestamp", "x"),
                                             Column("day", "date", "x")), sql="SELECT 1")
    batch = to_batch(table, [(text, text), (None, None)])
    assert batch.column("at").to_pylist() == [expected, None]
    assert batch.column("day").to_pylist() == [datetime.fromisoformat(text[:10]).date(), None]


def test_values_that_do_not_fit_name_the_table_and_column() -> None:
    table = table_named("job_runs")
    row = [1, "j", "ingest", "manual", "2025-01-01", None, None, "ok", None, 0, 1, None, ""]
    assert to_batch(table, [row]).num_rows == 1
    with pytest.raises(PublishError, match="job_runs, column started_at"):
        to_batch(table, [[*row[:4], "soon", *row[5:]]])
    with pytest.raises(PublishError, match="column job: empty value in row 2"):
        to_batch(table, [row, [1, None, *row[2:]]])
    with pytest.raises(PublishError, match="wrong width"):
        to_batch(table, [row[:-1]])


def test_metric_rows_flatten_numeric_leaves(db) -> None:  # type: ignore[no-untyped-def]
    from tests.connectors_data import add_models

    add_models(db)
    rows = [r for r in metric_rows(db) if r[:2] == ("fraud", 1)]
    assert ("fraud", 1, "test", "roc_auc", pytest.approx(0.81)) in rows
    assert ("fraud", 1, "backtest", "1.roc_auc", 0.77) in rows
    assert ("fraud", 1, "", "threshold", 0.3) in rows
    assert not [r for r in rows if r[3] in ("note", "optimise")]


def test_hyper_statements() -> None:
    scores = table_named("scores")
    assert hyper.create_table_sql(scores).startswith(
        'CREATE TABLE "Extract"."scores" ("prediction_id" BIGINT NOT NULL, ')
    assert hyper.quote('a"b') == '"a""b"'
    with pytest.raises(ValueError, match="absolute"):
        hyper.copy_sql("scores", Path("relative.arrow"))
    assert hyper.copy_sql("t", Path("/x/it's.arrow")).endswith(
        "FROM '/x/it''s.arrow' WITH (FORMAT ARROWFILE)")
    update, clear = hyper.overlay_update_sql(scores)
    assert '"outcome" = o."outcome"' in update and "IS DISTINCT FROM" in update
    assert clear.startswith('UPDATE "Extract"."scores" SET "outcome" = NULL')
    assert hyper.info_rows([("t", "a" * 64, 2, 10, None)], "2025-01-01")[-1].endswith(
        "2, 10, NULL, '2025-01-01')")


def test_lookml_project_is_consistent() -> None:
    files = project("warehouse", "analytics")
    fields: set[str] = set()
    for table in TABLES:
        text = files[f"views/{table.name}.view.lkml"]
        assert text.count("{") == text.count("}")
        assert f"sql_table_name: analytics.{table.name} ;;" in text
        for column in table.columns:
            kind = "dimension_group" if column.kind.lookml == "time" else "dimension"
            assert f"  {kind}: {column.name} {{" in text
            if kind == "dimension":
                assert f"type: {column.kind.lookml}\n    sql: ${{TABLE}}.{column.name} ;;" in text
                fields.add(f"{table.name}.{column.name}")
            else:
                fields.update(f"{table.name}.{column.name}_{t}" for t in
                              ("date", "week", "month", "quarter", "year"))  # fmt: skip
        fields.update(f"{table.name}.{m}" for m in ["count", *(m[0] for m in table.measures)])
    model = files["appliance.model.lkml"]
    assert model.startswith("# Generated") and 'connection: "warehouse"' in model
    assert model.count("{") == model.count("}")
    assert {re.sub(r"[${}]", "", ref) for ref in re.findall(r"\$\{\w+\.\w+\}", model)} <= fields
    dashboard = files["dashboards/monitoring.dashboard.lookml"]
    used = {f for line in re.findall(r"fields: \[(.*)\]", dashboard) for f in line.split(", ")}
    assert used and used <= fields
    assert "approval_rate" in files["views/scores.view.lkml"]
    assert "value_format_name: percent_1" in files["views/scores.view.lkml"]
    with pytest.raises(ConnectorError, match="--schema"):
        project("warehouse", "Bad-Schema")


def test_the_lookml_command_writes_the_project(run_cli: Callable[..., object], home) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("lookml", "--connection", "pg")
    assert out.exit_code == 0 and "wrote 13 LookML files" in out.stdout  # type: ignore[attr-defined]
    folder = home.dir("publish") / "lookml"
    assert (folder / "appliance.model.lkml").read_text().count('connection: "pg"') == 1
    assert len(list((folder / "views").glob("*.view.lkml"))) == len(TABLES)


@given(st.text(max_size=30), st.data())
def test_like_patterns(value: str, data: st.DataObject) -> None:
    pattern = "".join(
        data.draw(st.sampled_from([ch, "_", "%"])) if ch not in "%_" else ch for ch in value)
    assert like(pattern, value) and like(None, value) and like("%", value)
    assert not like(value + "x", value) or "%" in value


@given(st.text(max_size=20), st.text(max_size=20), st.booleans(), st.lists(st.text(max_size=8)))
def test_flight_sql_commands_round_trip(catalog: str, pattern: str, schema: bool,
                                        types: list[str]) -> None:  # fmt: skip
    data = pack("CommandGetTables", catalog=catalog, table_name_filter_pattern=pattern,
                include_schema=schema, table_types=types)  # fmt: skip
    name, message = unpack(data)  # type: ignore[misc]
    assert name == "CommandGetTables" and message.catalog == catalog
    assert message.HasField("catalog") and not message.HasField("db_schema_filter_pattern")
    assert (message.include_schema, list(message.table_types)) == (schema, types)


def test_plain_tickets_and_unknown_commands() -> None:
    assert unpack(b"scores") is None and unpack(b"") is None
    from google.protobuf import any_pb2

    other = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.Unheard")
    assert unpack(other.SerializeToString()) == ("Unheard", None)


def test_sql_info_uses_the_dense_union_of_the_spec() -> None:
    info = sql_info([0, 3, 504, 8, 12345])
    assert info.column("info_name").to_pylist() == [0, 3, 504, 8]
    assert info.column("value").to_pylist() == ["scoring-appliance", True, '"', 0]
    assert info.schema.field("value").type.type_codes == [0, 1, 2, 3, 4, 5]
    assert len(sql_info([])) >= 10


def test_get_tables_filters_and_schemas() -> None:
    result = tables(TABLES, "appliance", "published", table_pattern="%run%",
                    include_schema=True)  # fmt: skip
    assert result.column("table_name").to_pylist() == ["job_runs"]
    schema = pa.ipc.read_schema(pa.py_buffer(result.column("table_schema")[0].as_py()))
    assert schema.names == list(table_named("job_runs").column_names)
    assert schema.field("run_id").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"BIGINT"
    assert tables(TABLES, "appliance", "published", catalog_filter="other").num_rows == 0
    assert tables(TABLES, "appliance", "published", table_types=["VIEW"]).num_rows == 0


@pytest.mark.parametrize(("sql", "refused"), [
    ("SELECT 1", None), ("  WITH x AS (SELECT 1) SELECT * FROM x ; ", None),
    ("INSERT INTO t VALUES (1)", "INSERT"), ("UPDATE t SET a = 1", "UPDATE"),
    ("DROP TABLE scores", "DROP"), ("PRAGMA version", "PRAGMA"), ("SET threads = 1", "SET"),
    ("COPY scores TO '/tmp/x'", "COPY"), ("INSTALL httpfs", "LOAD"),
    ("SELECT 1; SELECT 2", "one statement"), ("", "the query is empty"),
])  # fmt: skip
def test_only_single_selects_pass(tmp_path: Path, sql: str, refused: str | None) -> None:
    engine = QueryEngine(tmp_path)
    try:
        if refused is None:
            assert engine.check(sql).startswith(("SELECT", "WITH"))
        else:
            with pytest.raises(QueryRefused, match=refused):
                engine.check(sql)
    finally:
        engine.close()


def test_primary_keys_are_never_empty_columns_and_default_to_the_incremental_key() -> None:
    ident = Column("a", "bigint", "an id", False)
    maybe = Column("b", "text", "a label")
    with pytest.raises(ValueError, match="primary key column cannot be empty"):
        PublishedTable("t", "s", "doc", (ident, maybe), sql="SELECT 1, 2", primary_key=("b",))
    with pytest.raises(ValueError, match="no column 'c'"):
        PublishedTable("t", "s", "doc", (ident,), sql="SELECT 1", primary_key=("c",))
    assert table_named("scores").unique_key == ("prediction_id",)
    assert table_named("model_versions").unique_key == ("model", "version")
    assert table_named("outcomes").unique_key == ()
