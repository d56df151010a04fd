"""The ``imagery`` job: classify the tiles waiting in ``inbox/tiles/``, as ``appliance
imagery`` does. With no tile waiting it does nothing (and audits nothing)."""

from __future__ import annotations

from scheduler.job import JobContext, JobResult

__all__ = ["run"]


def run(ctx: JobContext) -> JobResult:
    tiles = ctx.home.inside("inbox", "tiles")
    if not tiles.is_dir() or not any(p.is_file() for p in tiles.iterdir()):
        return JobResult(summary=f"no tiles waiting in {tiles}")
    from imagery_edge.device import open_classifier
    from imagery_edge.job import run_imagery
    from imagery_edge.model_info import load_model_info

    info = load_model_info()
    choice = open_classifier(
        ctx.param("device", str, "auto"),
        ctx.param("threads", int, 1),
        ctx.param("batch", int, 32),
        info,
    )
    ctx.progress(choice.reason)

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            ctx.progress(f"classified {done:,} of {total:,} file(s)")

    result = run_imagery(
        ctx.home,
        ctx.db,
        choice.classifier,
        info,
        today=ctx.now.date(),
        actor=ctx.actor,
        progress=progress,
    )
    root = ctx.home.root.resolve()
    artifacts = [str(result.hazard_path.resolve().relative_to(root))] if result.hazard_path else []
    if result.ingest is not None and result.ingest.run.version:
        artifacts.append(f"tile_labels@{result.ingest.run.version[:12]}")
    problems = [f"tile {r.file}: {r.reason}" for r in result.quarantined[:20]]
    if len(result.quarantined) > 20:
        problems.append(f"... and {len(result.quarantined) - 20} more tiles quarantined")
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(result.labels.items())) or "none"
    summary = (
        f"{result.classified:,} tile(s) classified ({counts}); "
        f"{len(result.quarantined)} quarantined"
    )
    return JobResult(result.classified, artifacts, summary, problems)
