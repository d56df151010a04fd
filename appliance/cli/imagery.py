"""`appliance imagery`: classify new satellite tiles into regional flood/drought labels."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from imagery_edge.job import ImageryResult

__all__ = ["command"]


@click.command("imagery")
@click.option(
    "--from",
    "tiles_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of tiles to classify (default: the home's inbox/tiles/).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="auto: the GPU (ONNX Runtime CUDA) when usable, else the CPU; gpu falls back too.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="CPU threads."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Tiles per batch."
)
@pass_app
def command(app: AppContext, tiles_dir: Path | None, device: str, threads: int, batch: int) -> None:
    """Classify the tiles waiting in the inbox as normal, flood, drought or cloud.

    Tiles are 6-band Landsat 8/9 surface-reflectance GeoTIFF or .npy files named
    <region>_<YYYY-MM-DD>.tif (or with a sidecar JSON). Labels become the tile_labels
    dataset; lake/derived/region_hazard.parquet is rebuilt; bad tiles are quarantined
    with a reason and the run goes on. See docs/imagery.md.
    """
    from imagery_edge.device import open_classifier
    from imagery_edge.job import run_imagery
    from imagery_edge.model_info import load_model_info

    db = app.store()
    info = load_model_info()
    with _log_to_stderr():
        choice = open_classifier(device, threads, batch, info)
        started = time.perf_counter()
        with click.progressbar(length=1, label="imagery", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(1)

            result = run_imagery(
                app.home, db, choice.classifier, info, today=date.today(),
                tiles_dir=tiles_dir, actor=app.settings.actor, progress=progress,
            )  # fmt: skip
    folder = tiles_dir or app.home.inside("inbox", "tiles")
    _report(app, result, time.perf_counter() - started, folder)


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show imagery_edge's log lines (the device choice, a GPU failing) once, on stderr."""
    logger = logging.getLogger("imagery_edge")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def _report(app: AppContext, result: ImageryResult, seconds: float, folder: Path) -> None:
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(result.labels.items())) or "none"
    rate = result.classified / seconds if seconds > 0 else 0.0
    if result.classified or result.quarantined:
        click.echo(
            f"classified {result.classified:,} tile(s) in {seconds:.1f} s ({rate:,.0f}/s): {counts}"
        )
    else:
        click.echo(f"no tiles waiting in {folder}")
    if result.scene_tiles_skipped:
        click.echo(f"  {result.scene_tiles_skipped:,} scene tile(s) skipped: no-data or NaN pixels")
    if result.ingest is not None:
        run = result.ingest.run
        state = "already ingested" if result.ingest.unchanged else f"run {run.id}"
        click.echo(
            f"tile_labels: {state}: rows_in={run.rows_in} rows_ok={run.rows_ok} "
            f"rows_quarantined={run.rows_quarantined} version={(run.version or '-')[:12]}"
        )
        for item in result.ingest.quarantine[:3]:
            click.echo(f"  quarantined {item.rows:>6} row(s)  {item.reason}")
    if result.quarantined and result.quarantine_dir is not None:
        where = result.quarantine_dir.relative_to(app.home.root.resolve())
        click.secho(f"quarantined {len(result.quarantined)} file(s) in {where}:", fg="yellow")
        for rejected in result.quarantined[:10]:
            click.echo(f"  {rejected.file}: {rejected.reason}")
        if len(result.quarantined) > 10:
            click.echo(f"  ... {len(result.quarantined) - 10} more in {where}/reasons.json")
    if result.hazard_path is not None:
        click.echo(f"region x month hazard table: {result.hazard_path}")
