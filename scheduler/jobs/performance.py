"""The ``performance`` job: realised performance (estimated until outcomes mature) and
fairness per protected group of every use case's logged predictions, with alerts (and
retrain requests on a performance drop) recorded and delivered.

Parameters (``[jobs.performance] params``): ``usecases`` (``[]`` = every spec whose
model has logged predictions) and any monitoring setting (see docs/monitoring.md).
A use case without predictions is skipped with a line; one failing use case does not
stop the others, and the run fails naming each.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from scheduler.errors import JobPartlyFailed, is_permanent
from scheduler.job import JobContext, JobResult

__all__ = ["monitor_each", "run"]


def run(ctx: JobContext) -> JobResult:
    from appliance.monitoring import measure_performance

    return monitor_each(ctx, "performance", measure_performance)


def monitor_each(ctx: JobContext, kind: str, measure: Callable[..., Any]) -> JobResult:
    """Run ``measure`` (a ``measure_*`` of appliance.monitoring) for each use case."""
    from appliance.errors import ApplianceError
    from appliance.monitoring import MonitoringConfig, NoPredictions
    from appliance.usecase.locate import list_specs, locate_spec

    params = dict(ctx.params)
    names = params.pop("usecases", None) or [p.stem for p in list_specs(ctx.home)]
    config = MonitoringConfig.from_params(params, f"appliance.toml: [jobs] {kind} params")
    rows, lines, problems, artifacts = 0, [], [], []
    failures: list[tuple[str, Exception]] = []
    for name in names:
        try:
            spec = locate_spec(ctx.home, str(name))
            outcome = measure(ctx.home, ctx.db, spec, config, progress=ctx.progress)
        except NoPredictions as exc:
            lines.append(f"{name}: skipped ({exc})")
            ctx.progress(lines[-1])
            continue
        except Exception as exc:  # one use case's failure must not stop the others
            detail = str(exc) if isinstance(exc, ApplianceError) else traceback.format_exc()
            ctx.progress(f"{name}: failed: {detail}")
            failures.append((str(name), exc))
            continue
        rows += outcome.rows
        acts = sum(a.level == "act" for a in outcome.new_alerts)
        retrain = sum(a.retrain_requested for a in outcome.new_alerts)
        lines.append(f"{name}: {outcome.rows:,} predictions, {len(outcome.new_alerts)} new "
                     f"alert(s), {acts} act" + (", retrain requested" if retrain else ""))
        problems += [a.message for a in outcome.new_alerts if a.level == "act"]
        problems += [f"alert delivery failed: {e}" for e in outcome.delivery_errors]
        artifacts += [f"alerts/{a.id}" for a in outcome.new_alerts]
    if failures:
        named = "; ".join(f"{n}: {e}" for n, e in failures)
        if len(failures) == 1 and not lines:
            raise failures[0][1]
        raise JobPartlyFailed(f"{len(failures)} use case(s) failed: {named}",
                              permanent=all(is_permanent(e) for _, e in failures))  # fmt: skip
    return JobResult(rows, artifacts, "; ".join(lines) or "no use cases", problems)
