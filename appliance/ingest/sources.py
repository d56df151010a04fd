"""Finding source schemas: by name in the home's sources/, or by path."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

from appliance.errors import NotFound
from appliance.home import DataHome, safe_name
from appliance.ingest.schema import SourceSchema, load_schema

__all__ = ["all_sources", "inbox_files", "match_source", "resolve_source"]


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


def inbox_files(home: DataHome) -> tuple[list[Path], list[Path]]:
    """The inbox's files to sweep, by name, and the symbolic links left alone.

    A link is never followed: it could point anywhere on the box, and an unreadable file
    is copied byte for byte into quarantine. Hidden files are skipped too.
    """
    entries = sorted(p for p in home.dir("inbox").iterdir() if not p.name.startswith("."))
    links = [p for p in entries if p.is_symlink()]
    return [p for p in entries if not p.is_symlink() and p.is_file()], links
