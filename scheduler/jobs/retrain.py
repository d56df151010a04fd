"""The ``retrain`` job: a new version per use case, through ``train_usecase``.

``train_usecase`` compiles, evaluates against the champion and promotes only where the
spec allows automatic promotion and every gate passes; otherwise the version awaits
approval. A use case whose spec and data are those of its latest version is skipped
(training again would give the same model), so a retry after a partial failure does
not register duplicates. One failing use case does not stop the others.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from scheduler.errors import JobPartlyFailed, is_permanent
from scheduler.job import JobContext, JobResult

if TYPE_CHECKING:
    from appliance.usecase.spec import UseCaseSpec

__all__ = ["run"]


def run(ctx: JobContext) -> JobResult:
    from appliance.errors import ApplianceError
    from appliance.usecase.locate import list_specs, locate_spec

    names = ctx.param("usecases", list, []) or [p.stem for p in list_specs(ctx.home)]
    always = ctx.param("retrain_unchanged", bool, False)
    rows, artifacts, lines = 0, [], []
    failures: list[tuple[str, Exception]] = []
    for name in names:
        try:
            spec = locate_spec(ctx.home, str(name))
            same_as = None if always else unchanged_since(ctx, spec)
            if same_as is not None:
                lines.append(f"{name}: unchanged since v{same_as}, skipped")
                ctx.progress(lines[-1])
                continue
            line, trained_rows, produced = _train(ctx, spec)
        except Exception as exc:  # one use case's failure must not stop the others
            detail = str(exc) if isinstance(exc, ApplianceError) else traceback.format_exc()
            ctx.progress(f"{name}: failed: {detail}")
            failures.append((str(name), exc))
            continue
        rows += trained_rows
        artifacts.extend(produced)
        lines.append(line)
    if failures:
        _raise(failures, lines)
    return JobResult(rows, artifacts, "; ".join(lines) or "no use cases to train")


def _train(ctx: JobContext, spec: UseCaseSpec) -> tuple[str, int, list[str]]:
    from appliance.training.run import train_usecase

    outcome = train_usecase(ctx.home, ctx.db, spec, actor=ctx.actor, progress=ctx.progress)
    mv = outcome.version
    sizes = outcome.metrics.get("split", {}).get("sizes", {})
    rows = sum(int(v) for v in sizes.values()) if isinstance(sizes, dict) else 0
    produced = [f"models/{mv.model}/{mv.version}"]
    if outcome.promoted:
        state = "promoted to production"
    elif outcome.gate_details:
        state = "not promoted: " + "; ".join(outcome.gate_details)
    else:
        state = "awaiting approval"
    return f"{spec.name}: {mv.model} v{mv.version} {state}", rows, produced


def unchanged_since(ctx: JobContext, spec: UseCaseSpec) -> int | None:
    """The latest version's number if it was trained on this spec and these exact
    dataset versions, else None."""
    from appliance.errors import NotFound
    from appliance.lake import dataset_versions
    from appliance.registry import list_versions

    try:
        versions = list_versions(ctx.db, spec.model_name)
    except NotFound:
        return None
    if not versions or versions[-1].spec_sha256 != spec.fingerprint:
        return None
    latest = versions[-1]
    for dataset in latest.datasets:
        recorded = [v.get("version") for v in dataset.get("versions", [])]
        try:
            current = [v.version for v in dataset_versions(ctx.db, str(dataset["name"]))]
        except NotFound:
            return None
        if recorded != current:
            return None
    return latest.version


def _raise(failures: list[tuple[str, Exception]], done: list[str]) -> None:
    if len(failures) == 1 and not done:
        raise failures[0][1]
    named = "; ".join(f"{name}: {exc}" for name, exc in failures)
    rest = f" (the others: {'; '.join(done)})" if done else ""
    raise JobPartlyFailed(
        f"{len(failures)} use case(s) failed: {named}{rest}",
        permanent=all(is_permanent(exc) for _, exc in failures),
    )
