"""`appliance ingest [FILE] --source NAME | --schema FILE.toml`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app
from appliance.errors import UnreadableFile

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.ingest import IngestResult, SourceSchema

__all__ = ["command", "sweep_inbox"]


@click.command("ingest")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--source", "source", help="Source schema name in the home's sources/.")
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A source schema TOML file anywhere.",
)
@pass_app
def command(
    app: AppContext, file: Path | None, source: str | None, schema_file: Path | None
) -> None:
    """Ingest FILE into the lake, or, without FILE, every file waiting in the inbox.

    Valid rows become a content-hashed lake version; invalid rows go to quarantine with
    the column and reason. Re-ingesting the same file is a no-op.
    """
    from appliance.ingest import resolve_source

    db = app.store()
    if file is None:
        sweep_inbox(app, db)
        return
    schema = resolve_source(app.home, source, schema_file)
    _report(file.name, _ingest_with_progress(app, db, file, schema))


def _ingest_with_progress(
    app: AppContext, db: Database, file: Path, schema: SourceSchema
) -> IngestResult:
    from appliance.ingest import ingest_file

    size = max(file.stat().st_size, 1)
    with click.progressbar(length=size, label=f"ingest {file.name}", file=sys.stderr) as bar:
        seen = 0

        def progress(done: int, total: int) -> None:
            nonlocal seen
            bar.update(max(0, min(done, size) - seen))
            seen = max(seen, min(done, size))

        return ingest_file(app.home, db, file, schema, actor=app.settings.actor, progress=progress)


def _report(name: str, result: IngestResult) -> None:
    run = result.run
    version = run.version[:12] if run.version else "-"
    if result.unchanged:
        click.echo(f"{name}: already ingested by run {run.id} (version {version}); nothing to do")
        return
    click.echo(
        f"{name}: run {run.id} -> {run.dataset}: rows_in={run.rows_in} rows_ok={run.rows_ok} "
        f"rows_quarantined={run.rows_quarantined} version={version}"
    )
    for item in result.quarantine[:5]:
        click.echo(f"  quarantined {item.rows:>8} rows  {item.reason}")
    if len(result.quarantine) > 5:
        click.echo(f"  ... {len(result.quarantine) - 5} more reasons; see {run.quarantine_path}")


def sweep_inbox(app: AppContext, db: Database) -> list[IngestResult]:
    """Ingest every inbox file matched by a source's inbox_pattern; move each away after.

    Ingested files move to ``inbox/done/``; unreadable ones leave the inbox because a
    byte-identical copy is already in quarantine."""
    from appliance.ingest import all_sources, inbox_files, match_source

    inbox = app.home.dir("inbox")
    sources = all_sources(app.home)
    files, links = inbox_files(app.home)
    for link in links:
        click.echo(f"{link.name}: a symbolic link; links are not followed, left in the inbox",
                   err=True)  # fmt: skip
    if not files:
        click.echo(f"inbox {inbox} is empty")
    failures, results = 0, []
    for path in files:
        schema = match_source(sources, path.name)
        if schema is None:
            click.echo(
                f"{path.name}: no source's inbox_pattern matches; left in the inbox", err=True
            )
            continue
        try:
            result = _ingest_with_progress(app, db, path, schema)
        except UnreadableFile as exc:
            failures += 1
            click.secho(f"{path.name}: {exc}", fg="red", err=True)
            path.unlink()  # a byte-identical copy is in quarantine
            continue
        _report(path.name, result)
        results.append(result)
        done = inbox / "done"
        done.mkdir(exist_ok=True)
        shutil.move(path, done / f"run-{result.run.id}-{path.name}")
    if failures:
        raise click.ClickException(
            f"{failures} file(s) could not be ingested; they are in quarantine"
        )
    return results
