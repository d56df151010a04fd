"""The result tables of the Flight SQL metadata commands, built as values.

``GetSqlInfo`` answers in the spec's dense-union layout; ``GetCatalogs``,
``GetDbSchemas``, ``GetTables`` (optionally with each table's Arrow schema, serialized
as an IPC message), ``GetTableTypes``, ``GetPrimaryKeys`` (the catalogue's keys) and
``GetXdbcTypeInfo`` (the six column types, as JDBC/ODBC codes) in theirs. Filter
patterns are SQL ``LIKE`` patterns (``%`` any run, ``_`` one character).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from connectors.columns import PublishedTable

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "SQL_INFO",
    "TABLE_TYPE",
    "catalogs",
    "db_schemas",
    "like",
    "primary_keys",
    "primary_keys_schema",
    "sql_info",
    "sql_info_schema",
    "table_types",
    "tables",
    "tables_schema",
    "xdbc_type_info",
    "xdbc_type_info_schema",
]

TABLE_TYPE = "TABLE"

# info id -> (union member, value); member: 0 string, 1 bool, 2 bigint, 3 int32
SQL_INFO: dict[int, tuple[int, Any]] = {
    0: (0, "scoring-appliance"),  # FLIGHT_SQL_SERVER_NAME
    1: (0, None),  # FLIGHT_SQL_SERVER_VERSION: the installed package version
    2: (0, None),  # FLIGHT_SQL_SERVER_ARROW_VERSION: the pyarrow version
    3: (1, True),  # FLIGHT_SQL_SERVER_READ_ONLY
    4: (1, True),  # FLIGHT_SQL_SERVER_SQL
    5: (1, False),  # FLIGHT_SQL_SERVER_SUBSTRAIT
    8: (3, 0),  # FLIGHT_SQL_SERVER_TRANSACTION: none
    9: (1, False),  # FLIGHT_SQL_SERVER_CANCEL
    100: (3, 0),  # FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: none
    101: (3, 0),  # FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: none
    500: (1, False),  # SQL_DDL_CATALOG
    501: (1, False),  # SQL_DDL_SCHEMA
    502: (1, False),  # SQL_DDL_TABLE
    504: (0, '"'),  # SQL_IDENTIFIER_QUOTE_CHAR
}
_MEMBERS = ("string_value", "bool_value", "bigint_value", "int32_bitmask", "string_list",
            "int32_to_int32_list_map")  # fmt: skip


@cache
def _member_types() -> tuple[pa.DataType, ...]:
    import pyarrow as pa

    return (pa.string(), pa.bool_(), pa.int64(), pa.int32(), pa.list_(pa.string()),
            pa.map_(pa.int32(), pa.list_(pa.int32())))  # fmt: skip


def sql_info_schema() -> pa.Schema:
    import pyarrow as pa

    union = pa.dense_union([pa.field(n, t) for n, t in zip(_MEMBERS, _member_types(),
                                                           strict=True)])  # fmt: skip
    return pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                      pa.field("value", union, nullable=False)])  # fmt: skip


def sql_info(requested: Sequence[int]) -> pa.Table:
    """The server's answers for ``requested`` ids (all it knows when empty); unknown ids
    are left out, as the spec allows."""
    import pyarrow as pa

    from appliance import __version__

    values = {**SQL_INFO, 1: (0, __version__), 2: (0, pa.__version__)}
    ids = [i for i in (requested or sorted(values)) if i in values]
    children: list[list[Any]] = [[] for _ in _MEMBERS]
    codes, offsets = [], []
    for info_id in ids:
        member, value = values[info_id]
        codes.append(member)
        offsets.append(len(children[member]))
        children[member].append(value)
    union = pa.UnionArray.from_dense(
        pa.array(codes, pa.int8()), pa.array(offsets, pa.int32()),
        [pa.array(c, t) for c, t in zip(children, _member_types(), strict=True)],
        list(_MEMBERS),
    )  # fmt: skip
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), union], schema=sql_info_schema())


def like(pattern: str | None, value: str) -> bool:
    """SQL LIKE: whether ``value`` matches ``pattern`` (no pattern matches everything)."""
    if pattern is None:
        return True
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def catalogs(catalog: str) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([pa.field("catalog_name", pa.string(), nullable=False)])
    return pa.Table.from_pylist([{"catalog_name": catalog}], schema=schema)


def db_schemas(catalog: str, db_schema: str, *, catalog_filter: str | None,
               pattern: str | None) -> pa.Table:  # fmt: skip
    import pyarrow as pa

    schema = pa.schema([pa.field("catalog_name", pa.string()),
                        pa.field("db_schema_name", pa.string(), nullable=False)])  # fmt: skip
    rows = []
    if catalog_filter in (None, catalog) and like(pattern, db_schema):
        rows.append({"catalog_name": catalog, "db_schema_name": db_schema})
    return pa.Table.from_pylist(rows, schema=schema)


def tables_schema(include_schema: bool) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field("catalog_name", pa.string()), pa.field("db_schema_name", pa.string()),
              pa.field("table_name", pa.string(), nullable=False),
              pa.field("table_type", pa.string(), nullable=False)]  # fmt: skip
    if include_schema:
        fields.append(pa.field("table_schema", pa.binary(), nullable=False))
    return pa.schema(fields)


def tables(published: Sequence[PublishedTable], catalog: str, db_schema: str, *,
           catalog_filter: str | None = None, schema_pattern: str | None = None,
           table_pattern: str | None = None, table_types: Sequence[str] = (),
           include_schema: bool = False) -> pa.Table:  # fmt: skip
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    wanted = catalog_filter in (None, catalog) and like(schema_pattern, db_schema)
    if table_types and TABLE_TYPE not in table_types:
        wanted = False
    for table in sorted(published, key=lambda t: t.name) if wanted else ():
        if not like(table_pattern, table.name):
            continue
        row: dict[str, Any] = {"catalog_name": catalog, "db_schema_name": db_schema,
                               "table_name": table.name, "table_type": TABLE_TYPE}  # fmt: skip
        if include_schema:
            row["table_schema"] = _described(table).serialize().to_pybytes()
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=tables_schema(include_schema))


def _described(table: PublishedTable) -> pa.Schema:
    """The table's schema with the Flight SQL column metadata BI tools show."""
    import pyarrow as pa

    return pa.schema([
        pa.field(c.name, c.kind.arrow_type(), nullable=c.nullable, metadata={
            "ARROW:FLIGHT:SQL:TABLE_NAME": table.name,
            "ARROW:FLIGHT:SQL:TYPE_NAME": c.kind.duckdb,
            "ARROW:FLIGHT:SQL:IS_READ_ONLY": "1",
            "ARROW:FLIGHT:SQL:REMARKS": c.doc,
        })
        for c in table.columns
    ])  # fmt: skip


def table_types() -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([pa.field("table_type", pa.string(), nullable=False)])
    return pa.Table.from_pylist([{"table_type": TABLE_TYPE}], schema=schema)


def primary_keys_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field("catalog_name", pa.string()),
                      pa.field("db_schema_name", pa.string()),
                      pa.field("table_name", pa.string(), nullable=False),
                      pa.field("column_name", pa.string(), nullable=False),
                      pa.field("key_name", pa.string()),
                      pa.field("key_sequence", pa.int32(), nullable=False)])  # fmt: skip


def primary_keys(published: Sequence[PublishedTable], catalog: str, db_schema: str, *,
                 table: str, catalog_filter: str | None = None,
                 schema_filter: str | None = None) -> pa.Table:  # fmt: skip
    """The key columns of ``table`` in key order (none for a table without a key, or
    one outside the catalog and schema asked for: names here are exact, not patterns)."""
    import pyarrow as pa

    rows = []
    if catalog_filter in (None, catalog) and schema_filter in (None, db_schema):
        for found in (t for t in published if t.name == table):
            rows = [{"catalog_name": catalog, "db_schema_name": db_schema, "table_name": table,
                     "column_name": column, "key_name": f"{table}_pkey", "key_sequence": n}
                    for n, column in enumerate(found.unique_key, start=1)]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=primary_keys_schema())


# column type -> (XDBC data type, sql_data_type, datetime subcode, column size, radix,
# literal prefix and suffix); codes from FlightSql.proto's XdbcDataType enum (JDBC's)
_XDBC: dict[str, tuple[int, int, int | None, int | None, int | None, str | None]] = {
    "bigint": (-5, -5, None, 19, 10, None),
    "boolean": (-7, -7, None, 1, None, None),
    "date": (91, 9, 1, 10, None, "DATE '"),
    "double": (8, 8, None, 53, 2, None),
    "text": (12, 12, None, None, None, "'"),
    "timestamp": (93, 9, 3, 26, None, "TIMESTAMP '"),
}


def xdbc_type_info_schema() -> pa.Schema:
    import pyarrow as pa

    i32, text = pa.int32(), pa.string()
    return pa.schema([
        pa.field("type_name", text, nullable=False), pa.field("data_type", i32, nullable=False),
        pa.field("column_size", i32), pa.field("literal_prefix", text),
        pa.field("literal_suffix", text),
        pa.field("create_params", pa.list_(pa.field("item", text, nullable=False))),
        pa.field("nullable", i32, nullable=False),
        pa.field("case_sensitive", pa.bool_(), nullable=False),
        pa.field("searchable", i32, nullable=False), pa.field("unsigned_attribute", pa.bool_()),
        pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
        pa.field("auto_increment", pa.bool_()), pa.field("local_type_name", text),
        pa.field("minimum_scale", i32), pa.field("maximum_scale", i32),
        pa.field("sql_data_type", i32, nullable=False), pa.field("datetime_subcode", i32),
        pa.field("num_prec_radix", i32), pa.field("interval_precision", i32),
    ])  # fmt: skip


def xdbc_type_info(data_type: int | None = None) -> pa.Table:
    """The types a published column can have, as SQL (DuckDB) names with their JDBC/ODBC
    codes; only ``data_type``'s when given. Ordered by data type, then name."""
    import pyarrow as pa

    from connectors.columns import COLUMN_TYPES

    rows = []
    for name, (code, sql_code, subcode, size, radix, prefix) in _XDBC.items():
        if data_type is not None and code != data_type:
            continue
        numeric = COLUMN_TYPES[name].numeric
        rows.append({
            "type_name": COLUMN_TYPES[name].duckdb, "data_type": code, "column_size": size,
            "literal_prefix": prefix, "literal_suffix": "'" if prefix else None,
            "create_params": None, "nullable": 1, "case_sensitive": name == "text",
            "searchable": 3 if name == "text" else 2,
            "unsigned_attribute": False if numeric else None, "fixed_prec_scale": False,
            "auto_increment": False if numeric else None,
            "local_type_name": COLUMN_TYPES[name].duckdb,
            "minimum_scale": 0 if name == "bigint" else None,
            "maximum_scale": 0 if name == "bigint" else None,
            "sql_data_type": sql_code, "datetime_subcode": subcode, "num_prec_radix": radix,
            "interval_precision": None,
        })  # fmt: skip
    rows.sort(key=lambda r: (r["data_type"], r["type_name"]))
    return pa.Table.from_pylist(rows, schema=xdbc_type_info_schema())
