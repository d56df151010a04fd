"""`appliance segments train|list|show|promote`: customer segmentations of a use case."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from appliance.segmentation import SegmentationVersion

__all__ = ["command"]


@click.group("segments")
def command() -> None:
    """Train, list, show and promote customer segmentations (k-means) of a use case."""


@command.command("train")
@click.argument("usecase")
@click.option("--promote", is_flag=True, help="Make the new version the production one at once.")
@pass_app
def train(app: AppContext, usecase: str, promote: bool) -> None:
    """Segment USECASE's population as its spec's [segmentation] table says, and register
    the version with every entity's segment (USECASE: a name in usecases/ or a .toml)."""
    from appliance.cli.steps import stepper
    from appliance.segmentation import train_segmentation
    from appliance.usecase.locate import locate_spec

    step = stepper()
    spec = locate_spec(app.home, usecase)
    outcome = train_segmentation(app.home, app.store(), spec, actor=app.settings.actor,
                                 progress=step, promote=promote)  # fmt: skip
    sv, profile = outcome.version, outcome.profile
    click.echo(f"{spec.name} segmentation v{sv.version} registered: {sv.k} segments of "
               f"{sv.rows:,} rows, silhouette {_num(sv.silhouette)}")  # fmt: skip
    for i in range(profile.k):
        apart = ", ".join(profile.distinctive(i)) or "close to the population"
        preds = "".join(f"; {label} {_num(m[i])}" for label, (m, _) in profile.predictions.items())
        click.echo(f"  segment {i}: {profile.sizes[i]:>7,} rows ({profile.shares[i]:6.1%})  "
                   f"{apart}{preds}")  # fmt: skip
    click.echo(f"  {outcome.entities:,} entities' segments recorded in customer_segments")
    for note in outcome.notes:
        click.echo(f"  note: {note.replace('`', '')}")
    if outcome.promoted:
        click.echo("  promoted to production")
    else:
        click.echo(f"  to use it: appliance segments promote {spec.name} {sv.version} "
                   "--reason TEXT")  # fmt: skip
    click.echo(f"  report: {outcome.report}")


@command.command("list")
@click.argument("usecase", required=False)
@pass_app
def list_(app: AppContext, usecase: str | None) -> None:
    """Every segmentation version (of USECASE), with k, silhouette and which is production."""
    from appliance.segmentation import list_segmentations, production_version

    db = app.store()
    versions = list_segmentations(db, usecase)
    if not versions:
        click.echo("no segmentations yet: `appliance segments train USECASE` trains one")
    current: dict[str, int | None] = {}
    for sv in versions:
        if sv.usecase not in current:
            current[sv.usecase] = production_version(db, sv.usecase)
            click.echo(sv.usecase)
        tag = "  production" if current[sv.usecase] == sv.version else ""
        click.echo(f"  v{sv.version:<4} {sv.created_at[:10]}  k {sv.k:<3} silhouette "
                   f"{_num(sv.silhouette):<6} {sv.rows:>9,} rows{tag}")  # fmt: skip


@command.command("show")
@click.argument("usecase")
@click.argument("version", required=False)
@pass_app
def show(app: AppContext, usecase: str, version: str | None) -> None:
    """One version (a number, production or latest; default production, else latest):
    features, silhouette by k, and each segment's size, share and profile."""
    from appliance.segmentation import load_artifact, production_version, resolve_segmentation

    db = app.store()
    ref = version or ("production" if production_version(db, usecase) is not None else "latest")
    sv = resolve_segmentation(db, usecase, ref)
    artifact = load_artifact(app.home, sv)  # refuses a changed artifact
    tag = "  (production)" if production_version(db, usecase) == sv.version else ""
    click.echo(f"{usecase} segmentation v{sv.version}  {sv.status}{tag}")
    click.echo(f"  trained     {sv.trained_at} in {sv.duration_s:.1f} s, {sv.rows:,} rows")
    click.echo(f"  features    {', '.join(sv.features)} ({artifact.scaling} scaling)")
    click.echo(f"  algorithm   {artifact.algorithm}, scikit-learn {artifact.sklearn_version}, "
               f"seed {artifact.seed}")  # fmt: skip
    scores = ", ".join(f"k={k}: {_num(v)}" for k, v in sorted(artifact.silhouette.items()))
    click.echo(f"  silhouette  {scores}")
    click.echo(f"  artifact    {sv.artifact_path} (sha256 {sv.artifact_sha256})")
    click.echo(f"  report      {app.home.inside(sv.report_path) if sv.report_path else 'none'}")
    _show_segments(app, sv)


def _show_segments(app: AppContext, sv: SegmentationVersion) -> None:
    path = app.home.inside(sv.folder, "profile.json")
    profile = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    if profile is None:
        return
    click.echo("  segments")
    for seg in profile["segments"]:
        apart = ", ".join(seg["distinctive"]) or "close to the population"
        preds = "  ".join(f"{label} {_num(v)}" for label, v in seg["predictions"].items())
        click.echo(f"    {seg['segment']:>2}  {seg['size']:>7,} rows ({seg['share']:6.1%})  "
                   f"{apart}{'  ' + preds if preds else ''}")  # fmt: skip


@command.command("promote")
@click.argument("usecase")
@click.argument("version")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
@pass_app
def promote(app: AppContext, usecase: str, version: str, reason: str) -> None:
    """Make VERSION (a number or latest) USECASE's production segmentation."""
    from appliance.segmentation import load_artifact, promote_segmentation, resolve_segmentation

    db = app.store()
    sv = resolve_segmentation(db, usecase, version)
    load_artifact(app.home, sv)  # never promote an artifact that no longer verifies
    previous = promote_segmentation(db, usecase, sv.version, actor=app.settings.actor,
                                    reason=reason)  # fmt: skip
    was = f" (was v{previous})" if previous is not None else ""
    click.echo(f"{usecase} segmentation v{sv.version} is now production{was}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
