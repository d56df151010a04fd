"""The ``publish`` job: ``appliance publish`` on a clock (incremental; ``full = true``
in its params rebuilds every extract)."""

from __future__ import annotations

from scheduler.job import JobContext, JobResult

__all__ = ["run"]


def run(ctx: JobContext) -> JobResult:
    from connectors.publisher import publish

    full = ctx.param("full", bool, False)
    report = publish(ctx.home, ctx.db, full=full, progress=ctx.progress, actor=ctx.actor)
    root = ctx.home.root
    parts = [f"{s.subject} v{s.version} {s.mode} +{s.rows_added}" for s in report.subjects]
    return JobResult(
        rows=report.rows_added,
        artifacts=[str(s.path.relative_to(root)) for s in report.subjects],
        summary="; ".join(parts) or "nothing to publish",
    )
