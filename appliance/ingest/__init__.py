"""Ingest: typed by a declarative source schema, validated, nothing lost."""

from appliance.ingest.run import IngestResult, ingest_file
from appliance.ingest.schema import ColumnSpec, SourceSchema, load_schema, parse_schema
from appliance.ingest.sources import all_sources, inbox_files, match_source, resolve_source

__all__ = [
    "ColumnSpec",
    "IngestResult",
    "SourceSchema",
    "all_sources",
    "inbox_files",
    "ingest_file",
    "load_schema",
    "match_source",
    "parse_schema",
    "resolve_source",
]
