"""Finding source schemas: by name in the home's sources/, or by path."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

from appliance.errors import NotFound
from appliance.home import DataHome, safe_name
from appliance.ingest.schema import SourceSchema, load_schema

__all__ = ["all_sources", "match_source", "resolve_source"]


def resolve_source(home: DataHome, name: str | None, schema_file: Path | None) -> SourceSchema:
    """The schema named ``name`` in ``sources/``, or the one at ``schema_file``."""
    if schema_file is not None:
        return load_schema(schema_file)
    if name is None:
        raise NotFound("say which source describes the file: --source NAME or --schema FILE.toml")
    path = home.inside("sources", f"{safe_name(name, 'source name')}.toml")
    if not path.exists():
        known = ", ".join(p.stem for p in sorted(path.parent.glob("*.toml"))) or "none"
        raise NotFound(f"no source schema {path.name} in {path.parent}; known sources: {known}")
    return load_schema(path)


def all_sources(home: DataHome) -> list[SourceSchema]:
    return [load_schema(p) for p in sorted(home.dir("sources").glob("*.toml"))]


def match_source(sources: list[SourceSchema], file_name: str) -> SourceSchema | None:
    """The first source whose ``inbox_pattern`` matches ``file_name``."""
    for schema in sources:
        if schema.inbox_pattern and fnmatch(file_name, schema.inbox_pattern):
            return schema
    return None
