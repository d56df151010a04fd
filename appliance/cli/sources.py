"""`appliance sources list | check FILE.toml | infer DATA.csv --name NAME`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from appliance.ingest import ColumnSpec, SourceSchema
    from appliance.ingest.infer import ColumnGuess, SchemaDraft

__all__ = ["command"]

_CHUNK = 1 << 20
_MAX_SAMPLE_BYTES = 64 << 20


@click.group("sources")
def command() -> None:
    """List, check and infer source schemas (the TOML files in the home's sources/)."""


@command.command("list")
@pass_app
def list_sources(app: AppContext) -> None:
    """List the schemas in sources/ (a broken one with its error)."""
    from appliance.errors import SchemaError
    from appliance.ingest import load_schema

    app.home.require_initialised()
    paths = sorted(app.home.dir("sources").glob("*.toml"))
    if not paths:
        click.echo("no source schemas yet: `appliance sources infer DATA.csv --name NAME`")
    for path in paths:
        try:
            schema = load_schema(path)
        except SchemaError as exc:
            click.secho(f"{path.name:<32} invalid: {exc}", fg="red")
            continue
        about = (schema.description.strip().splitlines() or [""])[0]
        about = about if len(about) <= 60 else about[:59] + "…"
        pattern = schema.inbox_pattern or "-"
        click.echo(f"{schema.name:<32} {pattern:<28} {len(schema.columns):>3} columns  {about}")


@command.command("check")
@click.argument("schema_file", metavar="FILE.toml|NAME")
@pass_app
def check(app: AppContext, schema_file: str) -> None:
    """Parse a source schema and summarise its columns, types and keys.

    Give a TOML file anywhere, or the NAME of a schema in the home's sources/."""
    from appliance.ingest import load_schema, resolve_source

    path = Path(schema_file)
    exists = path.suffix == ".toml" or path.exists()
    schema = load_schema(path) if exists else resolve_source(app.home, schema_file, None)
    click.echo(f"{schema.name}: {schema.path}")
    for line in _schema_summary(schema):
        click.echo(f"  {line}")
    click.echo(f"{'':2}{'column':<28} {'type':<9} {'from header':<28} details")
    for col in schema.columns:
        details = _column_details(col)
        click.echo(f"{'':2}{col.name:<28} {col.type:<9} {col.header:<28} {details}".rstrip())
    lake = len(schema.output_names())
    click.echo(f"ok: {len(schema.columns)} columns, {lake} in the lake")


def _schema_summary(schema: SourceSchema) -> list[str]:
    how = (
        f"format {schema.format or 'from the file extension'}, delimiter {schema.delimiter!r}, "
        f"quote {schema.quote!r}, encoding {schema.encoding}, "
        f"header line {'yes' if schema.header else 'no'}"
    )
    keys = (
        f"primary key: {', '.join(schema.primary_key) or '-'}; "
        f"time column: {schema.time_column or '-'}; extra columns: {schema.extra_columns}; "
        f"inbox pattern: {schema.inbox_pattern or '-'}"
    )
    return [how, keys]


def _column_details(col: ColumnSpec) -> str:
    parts = ["required"] if col.required else []
    if col.type in ("int", "float") and (col.decimal != "." or col.thousands):
        parts.append(f"decimal {col.decimal!r} thousands {col.thousands!r}")
    if col.strip:
        parts.append(f"strip {', '.join(col.strip)}")
    if col.format:
        parts.append(f"format {col.format}")
    if col.min is not None or col.max is not None:
        low, high = ("" if b is None else b for b in (col.min, col.max))
        parts.append(f"range {low}..{high}")
    if col.allowed:
        parts.append(f"{len(col.allowed)} allowed values")
    if col.pattern:
        parts.append(f"pattern {col.pattern}")
    if col.fields:
        parts.append("fields " + ", ".join(f"{f.name} ({f.type})" for f in col.fields))
    return "; ".join(parts)


@command.command("infer")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the new source (and of its dataset).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the draft (default: the home's sources/NAME.toml).",
)
@click.option(
    "--rows", type=click.IntRange(min=1), default=5000, show_default=True, help="Rows to sample."
)
@click.option("--force", is_flag=True, help="Overwrite an existing schema file.")
@pass_app
def infer(
    app: AppContext, data: Path, name: str, output: Path | None, rows: int, force: bool
) -> None:
    """Draft a source schema for DATA.csv from a sample of its rows.

    Sniffs the encoding, delimiter, header and each column's type, and writes a
    commented DRAFT to review before ingesting with it."""
    import tomllib

    from appliance.home import safe_name
    from appliance.ingest import infer as inference
    from appliance.ingest import parse_schema
    from appliance.ingest.infer.render import render_draft

    safe_name(name, "source name")
    if output is None:
        app.home.require_initialised()
        output = app.home.inside("sources", f"{name}.toml")
    if output.exists() and not force:
        raise inference.InferError(
            f"{output} already exists; review or remove it, or pass --force to overwrite it"
        )
    head, complete = _read_head(data, rows)
    decoded = inference.decode_sample(head, data.name)
    dialect = inference.sniff_dialect(decoded.text)
    records = inference.parse_records(decoded.text, dialect, rows + 1, complete)
    draft = inference.infer_schema(name, data.name, decoded, dialect, records)
    text = render_draft(draft)
    parse_schema(tomllib.loads(text), origin=str(output))  # the draft must always parse
    _write(output, text)
    _report(output, draft, data, in_home=output.parent == app.home.dir("sources").resolve())


def _read_head(path: Path, rows: int) -> tuple[bytes, bool]:
    """The first bytes of ``path``, enough for ``rows`` lines (up to a cap), cut at a line
    end; and whether that is the whole file."""
    from appliance.ingest.infer import InferError

    chunks: list[bytes] = []
    lines = size = 0
    try:
        with path.open("rb") as handle:
            while lines <= rows + 1 and size < _MAX_SAMPLE_BYTES:
                block = handle.read(_CHUNK)
                if not block:
                    return b"".join(chunks), True
                chunks.append(block)
                lines, size = lines + block.count(b"\n"), size + len(block)
            complete = not handle.read(1)
    except OSError as exc:
        raise InferError(f"cannot read {path}: {exc.strerror}") from exc
    head = b"".join(chunks)
    if complete:
        return head, True
    if b"\n" not in head:
        raise InferError(f"{path.name} has no line break in its first {size >> 20} MiB")
    return head[: head.rfind(b"\n") + 1], False


def _write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all."""
    from appliance.ingest.infer import InferError

    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise InferError(f"cannot write {path}: {exc.strerror}") from exc


def _report(path: Path, draft: SchemaDraft, data: Path, in_home: bool) -> None:
    dialect = draft.dialect
    click.echo(f"wrote a DRAFT source schema to {path}")
    click.echo(
        f"from {draft.sample_rows} sample rows of {data.name}: {draft.encoding}, "
        f"delimiter {dialect.delimiter!r}, {'a header line' if draft.header else 'no header line'}"
    )
    for note in draft.notes:
        click.secho(f"note: {note}", fg="yellow")
    click.echo(f"{'':2}{'column':<28} {'type':<9} {'from header':<28} notes")
    for col in draft.columns:
        header = col.source or (col.name if draft.header else "-")
        notes = _guess_notes(col, draft)
        click.echo(f"{'':2}{col.name:<28} {col.type:<9} {header:<28} {notes}".rstrip())
    using = f"--source {draft.name}" if in_home else f"--schema {path}"
    click.secho(
        "Review it before use: types, keys and hints come from a sample only. Then:\n"
        f"  appliance sources check {path}\n  appliance ingest {data} {using}",
        fg="yellow",
    )


def _guess_notes(col: ColumnGuess, draft: SchemaDraft) -> str:
    parts = [
        "primary key" if col.name == draft.primary_key else "",
        "time column" if col.name == draft.time_column else "",
        col.format or "",
        f"decimal {col.decimal!r} thousands {col.thousands!r}" if col.decimal != "." else "",
        f"strip {' '.join(col.strip)}" if col.strip else "",
        f"{len(col.allowed)} values seen" if col.allowed else "",
        ", ".join(f"{f.name}:{f.type}" for f in col.fields),
        f"{col.misfit_rows} value(s) do not fit" if col.misfit_rows else "",
        "AMBIGUOUS" if any(n.startswith("ambiguous") for n in col.notes) else "",
        f"{col.missing} missing" if col.missing else "",
    ]
    return "; ".join(p for p in parts if p)
