"""One segmentation run: spec and lake in, a registered segmentation version out.

Steps, each announced through ``progress``: parse ``[segmentation]``, build the
population's features with the use case's pipeline, impute and scale (every refusal
happens up to here), fit k-means for each k asked and keep the best by silhouette,
assign every row by nearest centroid, profile the segments (with the production
models' predictions where there are any), write the artifact, plots and report, and
register the version with each entity's segment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from appliance.segmentation.artifact import (
    ARTIFACT_FILE,
    SegmentationArtifact,
    SegmentFeature,
    nearest_centroid,
)
from appliance.segmentation.fit import MINIBATCH_ABOVE, Fitted, fit_segments
from appliance.segmentation.inputs import Inputs, build_inputs
from appliance.segmentation.predictions import production_columns
from appliance.segmentation.profile import SegmentProfile, profile_segments
from appliance.segmentation.records import (
    NewSegmentation,
    SegmentationVersion,
    make_segmentation_staging,
    promote_segmentation,
    register_segmentation,
)
from appliance.segmentation.report import REPORT_FILE, ReportFacts, write_plots, write_report
from appliance.segmentation.scaling import Scaler, check_distinct_rows, fit_scaler
from appliance.segmentation.spec import SegmentationSpec, parse_segmentation
from appliance.store.db import now_iso
from appliance.usecase.spec import UseCaseSpec

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.home import DataHome

__all__ = ["SegmentationOutcome", "latest_per_entity", "train_segmentation"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SegmentationOutcome:
    version: SegmentationVersion
    artifact: SegmentationArtifact
    profile: SegmentProfile
    report: Path
    promoted: bool
    entities: int
    """Entities whose segment was recorded in ``customer_segments``."""
    notes: tuple[str, ...]


def train_segmentation(
    home: DataHome,
    db: Database,
    spec: UseCaseSpec,
    *,
    actor: str,
    progress: Progress = lambda _line: None,
    promote: bool = False,
    minibatch_above: int = MINIBATCH_ABOVE,
) -> SegmentationOutcome:
    """Fit, profile, report and register one segmentation version of ``spec``.

    ``promote`` makes it the production segmentation at once (the demo does; people
    use ``appliance segments promote``). ``minibatch_above`` is the row count above
    which mini-batch k-means is used.
    """
    from appliance.features.sources import LakeSources

    started = time.monotonic()
    seg = parse_segmentation(spec)
    sources = LakeSources(home, db)
    inputs = build_inputs(spec, seg, sources, progress)
    scaler = fit_scaler(inputs.values, inputs.names, seg.scaling, spec.origin)
    x = scaler.apply(inputs.values)
    check_distinct_rows(x, seg.k_max, spec.origin)
    ks = seg.ks
    progress(f"fitting k-means for k = {', '.join(map(str, ks))} on {x.shape[0]:,} rows")
    fitted = fit_segments(x, ks, seed=seg.seed, sample=seg.sample, progress=progress,
                          minibatch_above=minibatch_above)  # fmt: skip
    artifact = _artifact(spec, seg, inputs, scaler, fitted)
    labels = nearest_centroid(artifact.centroids, x)
    models, notes = production_columns(home, db, spec, seg, inputs.table, sources, progress)
    profile = profile_segments(inputs.raw, labels, fitted.k, inputs.names, models)
    entities, segments = latest_per_entity(inputs.entities, inputs.dates, labels)
    staging = make_segmentation_staging(home, spec.name)
    try:
        progress(f"writing the artifact, plots and report ({fitted.k} segments)")
        new, facts, plots = _stage(staging, db, spec, seg, artifact, fitted, profile, notes,
                                   round(time.monotonic() - started, 3))  # fmt: skip
        progress(f"registering, with the segments of {len(entities):,} entities")
        sv = register_segmentation(db, home, spec.name, staging, new, (entities, segments),
                                   actor=actor)  # fmt: skip
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written is left behind
        raise
    final = home.inside(sv.folder)
    if sv.version != facts.version:  # another run registered first: the report must say so
        write_report(final, replace(facts, version=sv.version), profile,
                     {k: final / p.name for k, p in plots.items()})  # fmt: skip
    if promote:
        promote_segmentation(db, spec.name, sv.version, actor=actor,
                             reason="promoted by the run that trained it")  # fmt: skip
    progress(f"registered segmentation {sv.subject}")
    return SegmentationOutcome(sv, artifact, profile, final / REPORT_FILE, promote,
                               len(entities), tuple(notes))  # fmt: skip


def _stage(
    staging: Path,
    db: Database,
    spec: UseCaseSpec,
    seg: SegmentationSpec,
    artifact: SegmentationArtifact,
    fitted: Fitted,
    profile: SegmentProfile,
    notes: list[str],
    duration_s: float,
) -> tuple[NewSegmentation, ReportFacts, dict[str, Path]]:
    """Write the artifact, profile, plots and report into ``staging``."""
    data = artifact.to_json()
    (staging / ARTIFACT_FILE).write_bytes(data)
    (staging / "profile.json").write_text(json.dumps(profile.to_dict(), indent=1))
    plots = write_plots(staging, profile, fitted.silhouette)
    new = NewSegmentation(
        trained_at=artifact.trained_at, duration_s=duration_s, k=fitted.k,
        silhouette=fitted.silhouette.get(fitted.k), features=artifact.names,
        spec_sha256=spec.fingerprint, rows=profile.rows, report_file=REPORT_FILE,
    )  # fmt: skip
    facts = ReportFacts(
        usecase=spec.name, version=_next_version(db, spec.name), scaling=seg.scaling,
        algorithm=fitted.algorithm, silhouette=fitted.silhouette, k=fitted.k,
        trained_at=artifact.trained_at, duration_s=duration_s,
        artifact_sha256=hashlib.sha256(data).hexdigest(),
        sklearn_version=artifact.sklearn_version, notes=tuple(notes),
    )  # fmt: skip
    write_report(staging, facts, profile, plots)
    return new, facts, plots


def _artifact(
    spec: UseCaseSpec, seg: SegmentationSpec, inputs: Inputs, scaler: Scaler, fitted: Fitted
) -> SegmentationArtifact:
    import sklearn

    columns = zip(inputs.transforms, scaler.medians, scaler.centres, scaler.scales, strict=True)
    features = tuple(SegmentFeature(t, float(m), float(c), float(s)) for t, m, c, s in columns)
    return SegmentationArtifact(
        usecase=spec.name, features=features, scaling=seg.scaling, centroids=fitted.centroids,
        sizes=tuple(int(s) for s in fitted.sizes), silhouette=dict(fitted.silhouette),
        algorithm=fitted.algorithm, seed=seg.seed, sklearn_version=sklearn.__version__,
        spec_sha256=spec.fingerprint, trained_at=now_iso(),
        extra={"rows": inputs.rows, "inertia": fitted.inertia, "spec": seg.to_dict()},
    )  # fmt: skip


def latest_per_entity(
    entities: np.ndarray, dates: np.ndarray | None, labels: np.ndarray
) -> tuple[list[str], list[int]]:
    """One segment per entity: that of its latest row (by decision date, then row order);
    rows without an entity are left out."""
    n = labels.size
    order = np.argsort(dates, kind="stable") if dates is not None else np.arange(n)
    if dates is not None:  # NaT sorts last in numpy: undated rows must not win
        undated = np.isnat(dates[order])
        order = np.concatenate([order[undated], order[~undated]])
    latest: dict[str, int] = {}
    for row in order.tolist():
        key = entities[row]
        if key is not None:
            latest[str(key)] = int(labels[row])
    keys = sorted(latest)
    return keys, [latest[k] for k in keys]


def _next_version(db: Database, usecase: str) -> int:
    row = db.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM segmentations WHERE usecase = ?", [usecase]
    ).fetchone()
    return int(row[0])
