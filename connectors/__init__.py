"""Hyper extracts, the Flight SQL endpoint and LookML for BI tools (see DESIGN.md and
docs/connectors.md).

The published tables are declared in ``connectors.catalogue``; ``connectors.publisher``
writes the extracts, ``connectors.postgres`` the PostgreSQL copy, ``connectors.lookml``
the LookML project and ``connectors.flightsql`` serves them. Importing this package
loads none of pyarrow, Hyper or DuckDB.
"""

from connectors.catalogue import SUBJECTS, TABLES, table_named
from connectors.columns import Column, Overlay, PublishedTable
from connectors.errors import ConnectorError, PublishError

__all__ = [
    "SUBJECTS",
    "TABLES",
    "Column",
    "ConnectorError",
    "Overlay",
    "PublishError",
    "PublishedTable",
    "table_named",
]
