"""Registered segmentations: versions, the production pointer, customers' segments.

Like model versions: a training run writes into ``models/<usecase>-segments/.staging-*``
and ``register_segmentation`` takes the next number, inserts the row and every
entity's segment, writes the audit entry and renames the folder to
``models/<usecase>-segments/<version>/``, all in one transaction. Artifacts load only
through ``load_artifact``, which checks the SHA-256 taken at registration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance import audit
from appliance.errors import ApplianceError, NotFound, PromotionRefused
from appliance.home import DataHome
from appliance.lake import file_sha256
from appliance.registry import _staging
from appliance.segmentation.artifact import ARTIFACT_FILE, SegmentationArtifact
from appliance.store.db import now_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = [
    "NewSegmentation",
    "SegmentationVersion",
    "folder_name",
    "get_segmentation",
    "list_segmentations",
    "load_artifact",
    "make_segmentation_staging",
    "production_version",
    "promote_segmentation",
    "register_segmentation",
    "resolve_segmentation",
    "segment_assignments",
]

_COLUMNS = (
    "usecase, version, created_at, trained_at, duration_s, artifact_path, artifact_sha256, k,"
    " silhouette, features, spec_sha256, rows, report_path, status"
)
_INSERT_CHUNK = 10_000


@dataclass(frozen=True)
class SegmentationVersion:
    """One registered segmentation; paths relative to the data home."""

    usecase: str
    version: int
    created_at: str
    trained_at: str
    duration_s: float
    artifact_path: str
    artifact_sha256: str
    k: int
    silhouette: float | None
    features: tuple[str, ...]
    spec_sha256: str
    rows: int
    report_path: str | None
    status: str

    @property
    def subject(self) -> str:
        """How the audit log names it: ``<usecase>-segments/<version>``."""
        return f"{folder_name(self.usecase)}/{self.version}"

    @property
    def folder(self) -> str:
        return str(Path(self.artifact_path).parent)


@dataclass(frozen=True)
class NewSegmentation:
    """What a training run hands to ``register_segmentation``."""

    trained_at: str
    duration_s: float
    k: int
    silhouette: float | None
    features: tuple[str, ...]
    spec_sha256: str
    rows: int
    report_file: str | None = "report.html"


def folder_name(usecase: str) -> str:
    return f"{usecase}-segments"


def make_segmentation_staging(home: DataHome, usecase: str) -> Path:
    """A fresh staging folder under ``models/<usecase>-segments/``."""
    return _staging.make_staging(home, folder_name(usecase))


def register_segmentation(
    db: Database,
    home: DataHome,
    usecase: str,
    staging_dir: Path,
    new: NewSegmentation,
    assignments: tuple[Sequence[str], Sequence[int]],
    *,
    actor: str,
) -> SegmentationVersion:
    """Record the staged artifact as the next version, with each entity's segment."""
    folder = folder_name(usecase)
    wanted = [ARTIFACT_FILE] + ([new.report_file] if new.report_file else [])
    staging = _staging.check_staging(home, folder, Path(staging_dir), wanted)
    sha = file_sha256(staging / ARTIFACT_FILE)
    entities, segments = assignments
    moved: Path | None = None
    try:
        with db.atomic():
            version = _next_version(db, usecase)
            where = f"models/{folder}/{version}"
            report = f"{where}/{new.report_file}" if new.report_file else None
            now = now_iso()
            db.execute(
                f"INSERT INTO segmentations ({_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'registered')",
                [usecase, version, now, new.trained_at, float(new.duration_s),
                 f"{where}/{ARTIFACT_FILE}", sha, new.k, new.silhouette,
                 json.dumps(list(new.features)), new.spec_sha256, new.rows, report],
            )  # fmt: skip
            _insert_assignments(db, usecase, version, entities, segments, now)
            audit.record(db, actor, "segmentation.register", f"{folder}/{version}", {
                "artifact_sha256": sha, "k": new.k, "silhouette": new.silhouette,
                "features": list(new.features), "spec_sha256": new.spec_sha256,
                "rows": new.rows, "entities": len(entities),
            })  # fmt: skip
            target = staging.parent / str(version)
            _staging.move_into_place(staging, target)
            moved = target
            _staging.sync_dir(staging.parent)
    except BaseException:
        if moved is not None:
            _staging.move_back(moved, staging)
        raise
    return get_segmentation(db, usecase, version)


def _insert_assignments(
    db: Database,
    usecase: str,
    version: int,
    entities: Sequence[str],
    segments: Sequence[int],
    at: str,
) -> None:
    if len(entities) != len(segments):
        raise ApplianceError(f"{len(entities)} entities but {len(segments)} segments")
    sql = (
        "INSERT INTO customer_segments (usecase, version, entity_id, segment, assigned_at)"
        " VALUES (?, ?, ?, ?, ?)"
    )
    for start in range(0, len(entities), _INSERT_CHUNK):
        chunk = zip(entities[start : start + _INSERT_CHUNK],
                    segments[start : start + _INSERT_CHUNK], strict=True)  # fmt: skip
        db.conn.executemany(sql, [(usecase, version, str(e), int(s), at) for e, s in chunk])


def _next_version(db: Database, usecase: str) -> int:
    row = db.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM segmentations WHERE usecase = ?", [usecase]
    ).fetchone()
    return int(row[0])


def _from_row(row: Sequence[Any]) -> SegmentationVersion:
    names = [n.strip() for n in _COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["features"] = tuple(json.loads(values["features"]))
    return SegmentationVersion(**values)


def list_segmentations(db: Database, usecase: str | None = None) -> list[SegmentationVersion]:
    """Every segmentation version (of one use case), oldest first."""
    where, args = ("WHERE usecase = ?", [usecase]) if usecase else ("", [])
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM segmentations {where} ORDER BY usecase, version", args
    ).fetchall()
    return [_from_row(r) for r in rows]


def get_segmentation(db: Database, usecase: str, version: int) -> SegmentationVersion:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM segmentations WHERE usecase = ? AND version = ?",
        [usecase, version],
    ).fetchone()
    if row is None:
        raise NotFound(f"use case {usecase!r} has no segmentation version {version}; "
                       f"{_what_exists(db, usecase)}")  # fmt: skip
    return _from_row(row)


def production_version(db: Database, usecase: str) -> int | None:
    row = db.execute(
        "SELECT version FROM segmentation_production WHERE usecase = ?", [usecase]
    ).fetchone()
    return int(row[0]) if row else None


def resolve_segmentation(db: Database, usecase: str, ref: str) -> SegmentationVersion:
    """A version by number (``3``, ``v3``), ``production`` or ``latest``."""
    ref = ref.strip()
    number = ref[1:] if ref[:1] in {"v", "V"} else ref
    if number.isdigit():
        return get_segmentation(db, usecase, int(number))
    if ref == "latest":
        versions = list_segmentations(db, usecase)
        if not versions:
            raise NotFound(f"use case {usecase!r} has no segmentation yet; "
                           f"`appliance segments train {usecase}` trains one")  # fmt: skip
        return versions[-1]
    if ref == "production":
        current = production_version(db, usecase)
        if current is None:
            raise NotFound(f"use case {usecase!r} has no production segmentation; "
                           f"{_what_exists(db, usecase)}")  # fmt: skip
        return get_segmentation(db, usecase, current)
    raise NotFound(f"{ref!r} is neither a version number nor production or latest; "
                   f"{_what_exists(db, usecase)}")  # fmt: skip


def promote_segmentation(
    db: Database, usecase: str, version: int, *, actor: str, reason: str
) -> int | None:
    """Make ``version`` the production segmentation; returns the version it replaced."""
    with db.atomic():
        target = get_segmentation(db, usecase, version)
        if target.status != "registered":
            raise PromotionRefused(f"{target.subject} is {target.status} and cannot be promoted")
        previous = production_version(db, usecase)
        db.execute(
            "INSERT INTO segmentation_production (usecase, version, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (usecase) DO UPDATE SET version = excluded.version,"
            " updated_at = excluded.updated_at",
            [usecase, version, now_iso()],
        )
        audit.record(db, actor, "segmentation.promote", target.subject,
                     {"previous": previous, "reason": reason})  # fmt: skip
    return previous


def load_artifact(home: DataHome, sv: SegmentationVersion) -> SegmentationArtifact:
    """The version's artifact, from bytes checked against the registered SHA-256."""
    from appliance.registry.artifacts import verified_bytes

    path = home.inside(sv.artifact_path)
    data = verified_bytes(path, sv.artifact_sha256, f"{sv.subject}: artifact")
    return SegmentationArtifact.from_json(data, where=str(path))


def segment_assignments(db: Database, usecase: str, version: int) -> tuple[list[str], np.ndarray]:
    """The entities assigned at training of ``version`` and their segments, by entity."""
    rows = db.execute(
        "SELECT entity_id, segment FROM customer_segments WHERE usecase = ? AND version = ?"
        " ORDER BY entity_id",
        [usecase, version],
    ).fetchall()
    return [r[0] for r in rows], np.array([r[1] for r in rows], dtype=np.int64)


def _what_exists(db: Database, usecase: str) -> str:
    numbers = [str(r[0]) for r in db.execute(
        "SELECT version FROM segmentations WHERE usecase = ? ORDER BY version", [usecase]
    )]  # fmt: skip
    current = production_version(db, usecase)
    shown = f"v{current}" if current is not None else "none"
    return f"versions: {', '.join(numbers) or 'none'}; production: {shown}"
