"""The Flight SQL protocol messages this server reads and writes, as protobuf classes.

Flight SQL commands travel as ``google.protobuf.Any`` values whose type URL names a
message of the package ``arrow.flight.protocol.sql`` (Apache Arrow's ``FlightSql.proto``).
Only the wire format matters, and it is fixed by message names, field numbers and field
types; so instead of generating and committing code with ``protoc``, the messages the
appliance needs are declared below as data and turned into classes at run time with
protobuf's descriptor API. Fields declared ``optional`` in the spec keep their presence
(proto2 semantics), which is what the filters of ``CommandGetTables`` need. No PyPI
package ships these classes as a maintained library, so this table is the one place to
extend when the server learns another command.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["PACKAGE", "TYPE_PREFIX", "message", "pack", "unpack"]

PACKAGE = "arrow.flight.protocol.sql"
TYPE_PREFIX = f"type.googleapis.com/{PACKAGE}."

# message -> fields as (name, number, type, repeated); types are protobuf scalar names
_MESSAGES: dict[str, tuple[tuple[str, int, str, bool], ...]] = {
    "CommandGetSqlInfo": (("info", 1, "uint32", True),),
    "CommandGetCatalogs": (),
    "CommandGetDbSchemas": (
        ("catalog", 1, "string", False),
        ("db_schema_filter_pattern", 2, "string", False),
    ),
    "CommandGetTables": (
        ("catalog", 1, "string", False),
        ("db_schema_filter_pattern", 2, "string", False),
        ("table_name_filter_pattern", 3, "string", False),
        ("table_types", 4, "string", True),
        ("include_schema", 5, "bool", False),
    ),
    "CommandGetTableTypes": (),
    "CommandGetPrimaryKeys": (
        ("catalog", 1, "string", False),
        ("db_schema", 2, "string", False),
        ("table", 3, "string", False),
    ),
    "CommandGetXdbcTypeInfo": (("data_type", 1, "int32", False),),
    "CommandStatementQuery": (("query", 1, "string", False), ("transaction_id", 2, "bytes", False)),
    "CommandStatementUpdate": (("query", 1, "string", False),),
    "CommandStatementSubstraitPlan": (),  # recognised only to be refused
    "CommandStatementIngest": (),  # likewise
    "TicketStatementQuery": (("statement_handle", 1, "bytes", False),),
    "CommandPreparedStatementQuery": (("prepared_statement_handle", 1, "bytes", False),),
    "CommandPreparedStatementUpdate": (("prepared_statement_handle", 1, "bytes", False),),
    "DoPutPreparedStatementResult": (("prepared_statement_handle", 1, "bytes", False),),
    "ActionCreatePreparedStatementRequest": (
        ("query", 1, "string", False),
        ("transaction_id", 2, "bytes", False),
    ),
    "ActionCreatePreparedStatementResult": (
        ("prepared_statement_handle", 1, "bytes", False),
        ("dataset_schema", 2, "bytes", False),
        ("parameter_schema", 3, "bytes", False),
    ),
    "ActionClosePreparedStatementRequest": (("prepared_statement_handle", 1, "bytes", False),),
}


@cache
def _classes() -> dict[str, type]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    kinds = descriptor_pb2.FieldDescriptorProto
    scalar = {"string": kinds.TYPE_STRING, "bytes": kinds.TYPE_BYTES, "bool": kinds.TYPE_BOOL,
              "uint32": kinds.TYPE_UINT32, "int32": kinds.TYPE_INT32}  # fmt: skip
    file = descriptor_pb2.FileDescriptorProto(
        name="appliance_flight_sql.proto", package=PACKAGE, syntax="proto2"
    )
    for name, fields in _MESSAGES.items():
        declared = file.message_type.add(name=name)
        for field_name, number, kind, repeated in fields:
            declared.field.add(
                name=field_name, number=number, type=scalar[kind],
                label=kinds.LABEL_REPEATED if repeated else kinds.LABEL_OPTIONAL,
            )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in _MESSAGES
    }


def message(name: str, **fields: Any) -> Any:
    """A new message of the Flight SQL type ``name`` (e.g. ``"CommandGetTables"``)."""
    return _classes()[name](**fields)


def pack(name: str, **fields: Any) -> bytes:
    """``message(name, **fields)`` wrapped in a serialized ``google.protobuf.Any``."""
    from google.protobuf import any_pb2

    wrapped = any_pb2.Any(type_url=TYPE_PREFIX + name,
                          value=message(name, **fields).SerializeToString())  # fmt: skip
    return bytes(wrapped.SerializeToString())


def unpack(data: bytes) -> tuple[str, Any] | None:
    """``(message name, message)`` for a serialized Any holding a Flight SQL message; the
    name alone (message None) for a Flight SQL type this server does not know; None for
    bytes that are not a Flight SQL command at all (a plain Flight ticket)."""
    from google.protobuf import any_pb2
    from google.protobuf.message import DecodeError

    wrapped = any_pb2.Any()
    try:
        wrapped.ParseFromString(data)
    except DecodeError:
        return None
    if not wrapped.type_url.startswith(TYPE_PREFIX):
        return None
    name = wrapped.type_url[len(TYPE_PREFIX):]
    cls = _classes().get(name)
    if cls is None:
        return name, None
    decoded = cls()
    try:
        decoded.ParseFromString(wrapped.value)
    except DecodeError:
        return None
    return name, decoded
