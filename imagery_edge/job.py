"""``run_imagery``: classify the tiles waiting in the inbox and store what they show.

1. Every tile in ``inbox/tiles/`` (or ``tiles_dir``) is checked: region and date (name
   or sidecar), region known to the ``tile_labels`` source schema, date not in the
   future, readable, the model's band count and size, no NaN or no-data pixels. A file
   larger than a tile is a scene, cut into tiles (those with no-data pixels skipped).
   A bad file goes to ``quarantine/tile_labels/tiles-<stamp>/`` beside a
   ``reasons.json``; the run goes on.
2. Good tiles are classified in batches on the chosen device.
3. The labels are written as one Parquet file and ingested as the ``tile_labels``
   dataset with the shipped source schema (versions, hashes, row accounting, audit).
4. Classified tiles move to ``inbox/done/tiles-<stamp>/`` with that Parquet file.
5. ``lake/derived/region_hazard.parquet`` is rebuilt from all of ``tile_labels``
   (``hazard.region_month_table``) and replaced atomically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlite_utils import Database

from appliance import audit
from appliance.errors import NotFound
from appliance.home import DataHome
from appliance.ingest import IngestResult, ingest_file, resolve_source
from appliance.ingest.schema import SourceSchema
from appliance.lake import file_sha256, read_dataset, replace_atomically
from imagery_edge.classifier import Classifier
from imagery_edge.errors import BadTile
from imagery_edge.hazard import region_month_table
from imagery_edge.inbox import Rejected, TileInbox
from imagery_edge.labels import ClassifiedTile, labels_table, tile_id
from imagery_edge.model_info import ModelInfo
from imagery_edge.naming import tile_identity
from imagery_edge.preprocess import check_tile, to_reflectance
from imagery_edge.raster import Raster, read_raster, tile_raster

__all__ = ["DATASET", "HAZARD_FILE", "ImageryResult", "run_imagery", "write_region_hazard"]

DATASET = "tile_labels"
HAZARD_FILE = ("lake", "derived", "region_hazard.parquet")
Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass
class ImageryResult:
    classified: int = 0
    quarantined: list[Rejected] = field(default_factory=list)
    scene_tiles_skipped: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    model_versions: set[str] = field(default_factory=set)
    ingest: IngestResult | None = None
    done_dir: Path | None = None
    quarantine_dir: Path | None = None
    hazard_path: Path | None = None


@dataclass
class _Pending:
    """Tiles read and checked, waiting for a batch to fill."""

    tiles: list[ClassifiedTile] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def run_imagery(
    home: DataHome,
    db: Database,
    classifier: Classifier,
    info: ModelInfo,
    *,
    today: date,
    tiles_dir: Path | None = None,
    actor: str = "cli",
    progress: Progress | None = None,
    chunk: int = 512,
) -> ImageryResult:
    """Classify, store and aggregate every tile waiting; see the module docstring."""
    schema = resolve_source(home, DATASET, None)
    inbox = TileInbox(tiles_dir or home.inside("inbox", "tiles"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    tiles, result = _classify_all(inbox, schema, classifier, info, today, progress, chunk)
    result.quarantined = tiles.rejected + result.quarantined
    if result.quarantined:
        result.quarantine_dir = home.inside("quarantine", DATASET, f"tiles-{stamp}")
        inbox.quarantine(result.quarantined, result.quarantine_dir)
    if tiles.classified:
        done = home.inside("inbox", "done", f"tiles-{stamp}")
        result.ingest = _ingest(home, db, schema, tiles.labels, done, actor)
        inbox.move_done(tiles.classified, done)
        result.done_dir = done
    result.hazard_path = write_region_hazard(home, db)
    audit.record(db, actor, "imagery.run", DATASET, _audit_details(result, stamp))
    return result


@dataclass
class _Classified:
    classified: list[Path]
    rejected: list[Rejected]
    labels: pa.Table


def _classify_all(
    inbox: TileInbox,
    schema: SourceSchema,
    classifier: Classifier,
    info: ModelInfo,
    today: date,
    progress: Progress | None,
    chunk: int,
) -> tuple[_Classified, ImageryResult]:
    files, rejected = inbox.scan()
    result, pending, good = ImageryResult(), _Pending(), []
    regions = _known_regions(schema)
    for n, path in enumerate(files, 1):
        try:
            found, skipped = _examine(path, info, regions, today)
        except BadTile as exc:
            result.quarantined.append(Rejected(path.name, exc.reason))
        else:
            good.append(path)
            result.scene_tiles_skipped += skipped
            for tile, pixels in found:
                pending.tiles.append(tile)
                pending.pixels.append(pixels)
            if len(pending.pixels) >= chunk:
                _predict(pending, classifier, info, chunk)
        if progress:
            progress(n, len(files))
    _predict(pending, classifier, info, chunk)
    labels = _labels(pending, info)
    result.classified = labels.num_rows
    result.labels.update(labels.column("label").to_pylist())
    result.model_versions.update(pending.versions)
    return _Classified(good, rejected, labels), result


def _known_regions(schema: SourceSchema) -> frozenset[str] | None:
    allowed = schema.column("region").allowed
    return frozenset(allowed) if allowed is not None else None


def _examine(
    path: Path, info: ModelInfo, regions: frozenset[str] | None, today: date
) -> tuple[list[tuple[ClassifiedTile, np.ndarray]], int]:
    """The tiles in one file with their pixels, and how many scene tiles were skipped."""
    identity = tile_identity(path)
    if regions is not None and identity.region not in regions:
        raise BadTile(
            f"unknown region {identity.region!r}: not in the region list of "
            "sources/tile_labels.toml (add it there if it is real)"
        )
    if identity.acquired > today:
        raise BadTile(f"acquired {identity.acquired} is in the future (today is {today})")
    raster = read_raster(path)
    digest = file_sha256(path)
    source = path.name  # where it will rest is added by _ingest
    if not _is_scene(raster, info):
        check_tile(raster.pixels, info, raster.nodata)
        tile = ClassifiedTile(tile_id(identity.region, identity.acquired, digest), identity.region,
                              identity.acquired, source)  # fmt: skip
        return [(tile, raster.pixels)], 0
    found, skipped = [], 0
    for window in tile_raster(raster, info.tile_size):
        try:
            check_tile(window.pixels, info, raster.nodata)
        except BadTile:
            skipped += 1
            continue
        key = tile_id(identity.region, identity.acquired, digest, (window.row, window.col))
        found.append(
            (ClassifiedTile(key, identity.region, identity.acquired, source), window.pixels)
        )
    if not found:
        raise BadTile(f"a scene with no complete {info.tile_size}x{info.tile_size} tile free of "
                      "no-data and NaN pixels")  # fmt: skip
    return found, skipped


def _is_scene(raster: Raster, info: ModelInfo) -> bool:
    """Larger than a tile both ways (and at least one way strictly), with the right bands."""
    height, width, bands = raster.pixels.shape
    size = info.tile_size
    return bands == len(info.bands) and min(height, width) >= size and max(height, width) > size


def _predict(pending: _Pending, classifier: Classifier, info: ModelInfo, chunk: int) -> None:
    """Classify the pending pixels, ``chunk`` tiles at a time (a whole scene is many)."""
    for start in range(0, len(pending.pixels), chunk):
        part = pending.pixels[start : start + chunk]
        if all(p.dtype == np.uint16 for p in part):
            batch = np.stack(part)  # Landsat numbers: the classifier scales them
        else:
            batch = np.stack([to_reflectance(p, info) for p in part])
        pending.probabilities.append(classifier.predict(batch))
        pending.versions.extend([info.model_version(classifier.kind)] * len(batch))
    pending.pixels.clear()


def _labels(pending: _Pending, info: ModelInfo) -> pa.Table:
    if not pending.tiles:
        return labels_table([], np.zeros((0, len(info.classes))), info.classes, "")
    probabilities = np.concatenate(pending.probabilities)
    parts = []
    for version in dict.fromkeys(pending.versions):  # a GPU that failed mid-run: two versions
        rows = [i for i, v in enumerate(pending.versions) if v == version]
        tiles = [pending.tiles[i] for i in rows]
        parts.append(labels_table(tiles, probabilities[rows], info.classes, version))
    return pa.concat_tables(parts)


def _ingest(
    home: DataHome, db: Database, schema: SourceSchema, labels: pa.Table, done: Path, actor: str
) -> IngestResult:
    """Write the labels where the tiles will rest, and ingest them as ``tile_labels``."""
    done.mkdir(parents=True, exist_ok=True)
    relative = done.relative_to(home.root.resolve())
    labels = labels.set_column(
        labels.schema.get_field_index("source_file"),
        "source_file",
        pa.array([f"{relative}/{Path(s).name}" for s in labels.column("source_file").to_pylist()]),
    )
    path = done / "tile_labels.parquet"
    tmp = done / ".tile_labels.parquet.tmp"
    pq.write_table(labels, tmp, compression="zstd")
    replace_atomically(tmp, path)
    return ingest_file(home, db, path, schema, actor=actor)


def write_region_hazard(home: DataHome, db: Database) -> Path | None:
    """Rebuild ``lake/derived/region_hazard.parquet`` from all tile labels (atomic)."""
    try:
        labels = read_dataset(home, db, DATASET, columns=["region", "acquired", "label"])
    except NotFound:
        return None
    table = region_month_table(labels)
    path = home.inside(*HAZARD_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    replace_atomically(tmp, path)
    return path


def _audit_details(result: ImageryResult, stamp: str) -> dict[str, object]:
    run = result.ingest.run if result.ingest else None
    return {
        "stamp": stamp,
        "classified": result.classified,
        "labels": dict(result.labels),
        "quarantined": len(result.quarantined),
        "model_versions": sorted(result.model_versions),
        "ingest_run": run.id if run else None,
        "version": run.version if run else None,
    }
