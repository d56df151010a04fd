"""The Arrow Flight SQL endpoint: the published tables, read-only, for BI tools and
notebooks (ADBC, JDBC). Built on ``pyarrow.flight``; import ``connectors.flightsql.server``
only where the server runs (it loads pyarrow.flight and DuckDB)."""

__all__: list[str] = []
