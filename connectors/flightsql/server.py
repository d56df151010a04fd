"""The Flight SQL server: ``pyarrow.flight.FlightServerBase`` speaking the Flight SQL
protocol over the published tables, read-only.

Commands arrive as ``google.protobuf.Any`` values (``messages``): statement queries,
prepared statements (created and closed by action, parameters bound by ``DoPut``),
``GetSqlInfo``, ``GetCatalogs``, ``GetDbSchemas``, ``GetTables``, ``GetTableTypes``,
``GetPrimaryKeys`` and ``GetXdbcTypeInfo``.
Results stream as Arrow record batches of ``batch_rows`` rows. A plain Flight client may
also ``do_get`` a table by name, and ``list_flights`` lists the tables. Anything that
would write is refused with a message; a failing query is an error for that call only.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from connectors.flightsql import metadata
from connectors.flightsql.auth import Denied, TokenStore, parse_authorization
from connectors.flightsql.engine import (
    CATALOG,
    DB_SCHEMA,
    QueryEngine,
    QueryError,
    QueryRefused,
)
from connectors.flightsql.messages import message as message_named
from connectors.flightsql.messages import pack, unpack

__all__ = ["MAX_MESSAGE_BYTES", "FlightSqlServer"]

log = logging.getLogger("connectors.flightsql")

_MAX_PREPARED = 10_000
MAX_MESSAGE_BYTES = 8 << 20
"""Largest batch sent: gRPC clients refuse messages over 16 MiB by default (ADBC too)."""
_WRITES = {"CommandStatementUpdate", "CommandPreparedStatementUpdate", "CommandStatementIngest"}
_METADATA = {"CommandGetSqlInfo", "CommandGetCatalogs", "CommandGetDbSchemas",
             "CommandGetTables", "CommandGetTableTypes", "CommandGetPrimaryKeys",
             "CommandGetXdbcTypeInfo"}  # fmt: skip


@dataclass
class _Prepared:
    query: str
    key_id: str | None
    parameters: list[list[Any]] = field(default_factory=list)
    """Bound parameter sets (rows); empty: run once without parameters."""


class _AcceptAll(flight.ServerAuthHandler):
    """Lets the Handshake through; the middleware below does the real check."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


class _Auth(flight.ServerMiddleware):
    def __init__(self, key_id: str, token: str | None) -> None:
        self.key_id = key_id
        self._token = token

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token}"} if self._token else {}


class _AuthFactory(flight.ServerMiddlewareFactory):
    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> _Auth:
        values = headers.get("authorization") or headers.get("Authorization") or [None]
        credentials = parse_authorization(values[0])
        if credentials is None:
            raise flight.FlightUnauthenticatedError(
                "authenticate with a username and an API key (role analyst)")
        try:
            if info.method == flight.FlightMethod.HANDSHAKE and credentials.scheme == "basic":
                token, key = self.tokens.login(credentials.username, credentials.secret)
                return _Auth(key.id, token)
            return _Auth(self.tokens.resolve(credentials).id, None)
        except Denied as exc:
            raise flight.FlightUnauthenticatedError(str(exc)) from None


class FlightSqlServer(flight.FlightServerBase):
    """Listens as soon as it is constructed; ``serve()`` blocks, ``shutdown()`` stops it."""

    def __init__(self, location: str, engine: QueryEngine, tokens: TokenStore | None, *,
                 tls_certificates: Sequence[tuple[bytes, bytes]] = (),
                 batch_rows: int = 65_536) -> None:  # fmt: skip
        self.engine = engine
        self.batch_rows = batch_rows
        self._prepared: OrderedDict[bytes, _Prepared] = OrderedDict()
        self._lock = threading.Lock()
        super().__init__(
            location,
            auth_handler=_AcceptAll() if tokens is not None else None,
            middleware={"auth": _AuthFactory(tokens)} if tokens is not None else None,
            tls_certificates=[flight.CertKeyPair(c, k) for c, k in tls_certificates] or None,
        )

    # -- discovery -------------------------------------------------------------------

    def list_flights(self, context: Any, criteria: bytes) -> Iterator[flight.FlightInfo]:
        for table in self.engine.tables():
            descriptor = flight.FlightDescriptor.for_path(table.name)
            yield self._info(descriptor, table.arrow_schema(), table.name.encode())

    def get_flight_info(self, context: Any, descriptor: Any) -> flight.FlightInfo:
        schema, ticket = self._plan(context, descriptor)
        return self._info(descriptor, schema, ticket)

    def get_schema(self, context: Any, descriptor: Any) -> flight.SchemaResult:
        return flight.SchemaResult(self._plan(context, descriptor)[0])

    def _info(self, descriptor: Any, schema: pa.Schema, ticket: bytes) -> flight.FlightInfo:
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    def _plan(self, context: Any, descriptor: Any) -> tuple[pa.Schema, bytes]:
        """The result schema and the ticket that fetches it."""
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            name = "/".join(p.decode() if isinstance(p, bytes) else p for p in descriptor.path)
            return _guard(lambda: self._table_schema(name)), name.encode()
        command = _command(descriptor.command)
        name, message = command
        if name == "CommandStatementQuery":
            query = _guard(lambda: self.engine.check(message.query))
            schema = _guard(lambda: self.engine.schema(query))
            return schema, pack("TicketStatementQuery", statement_handle=query.encode())
        if name == "CommandPreparedStatementQuery":
            prepared = self._find(context, message.prepared_statement_handle)
            first = prepared.parameters[0] if prepared.parameters else None
            return _guard(lambda: self.engine.schema(prepared.query, first)), descriptor.command
        if name in _METADATA:
            return self._metadata(name, message).schema, descriptor.command
        raise _refusal(name)

    def _table_schema(self, name: str) -> pa.Schema:
        for table in self.engine.tables():
            if table.name == name:
                return table.arrow_schema()
        raise QueryError(f"no published table named {name!r}")

    # -- results ---------------------------------------------------------------------

    def do_get(self, context: Any, ticket: Any) -> flight.FlightDataStream:
        command = unpack(ticket.ticket)
        if command is None:  # a plain Flight ticket: a table's name
            name = ticket.ticket.decode("utf-8", "replace")
            return _stream(_guard(lambda: self.engine.table_reader(name, self.batch_rows)))
        name, message = command
        if name == "TicketStatementQuery":
            query = message.statement_handle.decode("utf-8")
            self._log(context, query)
            return _stream(_guard(lambda: self.engine.reader(query, (), self.batch_rows)))
        if name == "CommandPreparedStatementQuery":
            prepared = self._find(context, message.prepared_statement_handle)
            self._log(context, prepared.query)
            return self._prepared_stream(prepared)
        if name in _METADATA:
            return flight.RecordBatchStream(self._metadata(name, message))
        raise _refusal(name)

    def _prepared_stream(self, prepared: _Prepared) -> flight.FlightDataStream:
        sets = prepared.parameters or [[]]
        first = _guard(lambda: self.engine.reader(prepared.query, sets[0], self.batch_rows))

        def every_set() -> Iterator[pa.RecordBatch]:
            yield from first
            for params in sets[1:]:
                yield from self.engine.reader(prepared.query, params, self.batch_rows)

        return _stream(first, every_set())

    def _metadata(self, name: str, message: Any) -> pa.Table:
        if name == "CommandGetSqlInfo":
            return metadata.sql_info(list(message.info))
        if name == "CommandGetCatalogs":
            return metadata.catalogs(CATALOG)
        if name == "CommandGetDbSchemas":
            return metadata.db_schemas(
                CATALOG, DB_SCHEMA, catalog_filter=_optional(message, "catalog"),
                pattern=_optional(message, "db_schema_filter_pattern"),
            )  # fmt: skip
        if name == "CommandGetTables":
            return metadata.tables(
                self.engine.tables(), CATALOG, DB_SCHEMA,
                catalog_filter=_optional(message, "catalog"),
                schema_pattern=_optional(message, "db_schema_filter_pattern"),
                table_pattern=_optional(message, "table_name_filter_pattern"),
                table_types=list(message.table_types), include_schema=message.include_schema,
            )  # fmt: skip
        if name == "CommandGetPrimaryKeys":
            return metadata.primary_keys(
                self.engine.tables(), CATALOG, DB_SCHEMA, table=message.table,
                catalog_filter=_optional(message, "catalog"),
                schema_filter=_optional(message, "db_schema"),
            )  # fmt: skip
        if name == "CommandGetXdbcTypeInfo":
            wanted = message.data_type if message.HasField("data_type") else None
            return metadata.xdbc_type_info(wanted)
        return metadata.table_types()

    # -- prepared statements -----------------------------------------------------------

    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        return [("CreatePreparedStatement", "prepare a SELECT; parameters bound by DoPut"),
                ("ClosePreparedStatement", "release a prepared statement")]  # fmt: skip

    def do_action(self, context: Any, action: Any) -> Iterator[bytes]:
        kind = action.type
        command = unpack(action.body.to_pybytes()) if action.body is not None else None
        if kind == "CreatePreparedStatement" and command is not None and command[1] is not None:
            return iter([self._create_prepared(context, command[1].query)])
        if kind == "ClosePreparedStatement" and command is not None and command[1] is not None:
            with self._lock:
                self._prepared.pop(bytes(command[1].prepared_statement_handle), None)
            return iter([])
        raise flight.FlightServerError(f"action {kind!r} is not supported by this read-only"
                                       " endpoint")  # fmt: skip

    def _create_prepared(self, context: Any, sql: str) -> bytes:
        query = _guard(lambda: self.engine.check(sql))
        schema = _guard(lambda: self.engine.schema(query))
        handle = secrets.token_bytes(16)
        with self._lock:
            self._prepared[handle] = _Prepared(query, _key_id(context))
            while len(self._prepared) > _MAX_PREPARED:
                self._prepared.popitem(last=False)
        return pack("ActionCreatePreparedStatementResult", prepared_statement_handle=handle,
                    dataset_schema=schema.serialize().to_pybytes())  # fmt: skip

    def _find(self, context: Any, handle: bytes) -> _Prepared:
        with self._lock:
            prepared = self._prepared.get(bytes(handle))
        if prepared is None or prepared.key_id != _key_id(context):
            raise flight.FlightServerError("unknown prepared statement: it was closed, or the"
                                           " server restarted; prepare it again")  # fmt: skip
        return prepared

    def do_put(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
        name, message = _command(descriptor.command)
        if name != "CommandPreparedStatementQuery":
            raise _refusal(name)
        prepared = self._find(context, message.prepared_statement_handle)
        table = reader.read_all()
        prepared.parameters = [list(row.values()) for row in table.to_pylist()]
        # the spec sends this message bare in the PutResult's app_metadata, not in an Any
        result = message_named("DoPutPreparedStatementResult",
                               prepared_statement_handle=bytes(message.prepared_statement_handle))
        writer.write(pa.py_buffer(result.SerializeToString()))

    def _log(self, context: Any, query: str) -> None:
        log.info("query by key %s: %s", _key_id(context) or "-", " ".join(query.split())[:500])


def _stream(reader: pa.RecordBatchReader,
            batches: Iterator[pa.RecordBatch] | None = None) -> flight.FlightDataStream:
    """Stream batches, none over ``MAX_MESSAGE_BYTES``: wide rows are sliced (no copy)."""
    def sliced() -> Iterator[pa.RecordBatch]:
        for batch in batches if batches is not None else reader:
            size = batch.nbytes
            if size <= MAX_MESSAGE_BYTES or batch.num_rows < 2:
                yield batch
                continue
            step = max(1, batch.num_rows * MAX_MESSAGE_BYTES // size)
            for start in range(0, batch.num_rows, step):
                yield batch.slice(start, step)

    return flight.GeneratorStream(reader.schema, sliced())


def _command(data: bytes) -> tuple[str, Any]:
    command = unpack(data)
    if command is None:
        raise flight.FlightServerError("not a Flight SQL command")
    if command[1] is None and command[0] not in _WRITES:
        raise flight.FlightServerError(f"{command[0]} is not supported by this endpoint")
    return command


def _optional(message: Any, name: str) -> str | None:
    return getattr(message, name) if message.HasField(name) else None


def _key_id(context: Any) -> str | None:
    auth = context.get_middleware("auth")
    return auth.key_id if auth is not None else None


def _refusal(name: str) -> Exception:
    if name in _WRITES:
        return flight.FlightUnauthorizedError("this endpoint is read-only: updates, inserts"
                                              " and ingestion are refused")  # fmt: skip
    return flight.FlightServerError(f"{name} is not supported by this endpoint")


def _guard(call: Any) -> Any:
    """Run ``call``; a refused or failing query becomes an error for this call only, with
    the message alone (a Flight error class: no server traceback goes to the client)."""
    try:
        return call()
    except QueryRefused as exc:
        raise flight.FlightUnauthorizedError(str(exc)) from None
    except QueryError as exc:
        raise flight.FlightServerError(str(exc)) from None
