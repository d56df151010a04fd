"""The ``ingest`` job: every inbox file a source's ``inbox_pattern`` matches, ingested.

Like ``appliance ingest`` without a file: ingested files move to ``inbox/done/``;
an unreadable file leaves the inbox (its byte-identical copy is in quarantine) and is
reported as a problem, and the sweep goes on with the next file.
"""

from __future__ import annotations

import shutil

from scheduler.job import JobContext, JobResult

__all__ = ["run"]


def run(ctx: JobContext) -> JobResult:
    from appliance.errors import UnreadableFile
    from appliance.ingest import all_sources, inbox_files, ingest_file, match_source

    inbox = ctx.home.dir("inbox")
    sources = all_sources(ctx.home)
    files, links = inbox_files(ctx.home)
    rows, ingested, unmatched = 0, 0, 0
    artifacts: list[str] = []
    problems = [f"{link.name}: a symbolic link; links are not followed, left in the inbox"
                for link in links]  # fmt: skip
    for path in files:
        schema = match_source(sources, path.name)
        if schema is None:
            unmatched += 1
            ctx.progress(f"{path.name}: no source's inbox_pattern matches; left in the inbox")
            continue
        ctx.progress(f"ingesting {path.name} as {schema.name}")
        try:
            result = ingest_file(ctx.home, ctx.db, path, schema, actor=ctx.actor)
        except UnreadableFile as exc:
            problems.append(f"{path.name}: {exc}")
            path.unlink()  # a byte-identical copy is in quarantine
            continue
        ingested += 1
        run = result.run
        if not result.unchanged:
            rows += run.rows_in
            artifacts.extend(_version_path(ctx, run.dataset, run.version))
        ctx.progress(
            f"{path.name}: run {run.id} rows_in={run.rows_in} rows_ok={run.rows_ok} "
            f"rows_quarantined={run.rows_quarantined}"
        )
        done = inbox / "done"
        done.mkdir(exist_ok=True)
        shutil.move(path, done / f"run-{run.id}-{path.name}")
    summary = f"{ingested} file(s) ingested, {rows:,} row(s)"
    if unmatched:
        summary += f"; {unmatched} file(s) matched no source and stay in the inbox"
    if problems:
        summary += f"; {len(problems)} unreadable file(s) kept in quarantine"
    return JobResult(rows=rows, artifacts=artifacts, summary=summary, problems=problems)


def _version_path(ctx: JobContext, dataset: str, version: str | None) -> list[str]:
    if version is None:
        return []
    row = ctx.db.execute(
        "SELECT path FROM dataset_versions WHERE dataset = ? AND version = ?", [dataset, version]
    ).fetchone()
    return [str(row[0])] if row else []
