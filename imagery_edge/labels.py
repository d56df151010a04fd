"""Per-tile labels as the Arrow table that becomes the ``tile_labels`` lake dataset (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

__all__ = ["LABEL_SCHEMA", "ClassifiedTile", "labels_table", "tile_id"]

LABEL_SCHEMA = pa.schema(
    [
        ("tile_id", pa.string()),
        ("region", pa.string()),
        ("acquired", pa.date32()),
        ("label", pa.string()),
        ("p_normal", pa.float64()),
        ("p_flood", pa.float64()),
        ("p_drought", pa.float64()),
        ("p_cloud", pa.float64()),
        ("model_version", pa.string()),
        ("source_file", pa.string()),
    ]
)
_CLASSES = ("normal", "flood", "drought", "cloud")


@dataclass(frozen=True)
class ClassifiedTile:
    tile_id: str
    region: str
    acquired: date
    source_file: str


def tile_id(region: str, acquired: date, sha256: str, window: tuple[int, int] | None = None) -> str:
    """``<region>_<YYYYMMDD>_<16 hex of the file's SHA-256>[_r<row>c<col>]``: the same
    file always gets the same id, so a tile classified twice is a duplicate key."""
    base = f"{region}_{acquired:%Y%m%d}_{sha256[:16]}"
    return base if window is None else f"{base}_r{window[0]}c{window[1]}"


def labels_table(
    tiles: Sequence[ClassifiedTile],
    probabilities: np.ndarray,
    classes: Sequence[str],
    model_version: str,
) -> pa.Table:
    """One row per tile: the most probable class and every class's probability."""
    if tuple(classes) != _CLASSES:
        raise ValueError(f"the model's classes {tuple(classes)} are not {_CLASSES}")
    if len(tiles) != len(probabilities):
        raise ValueError(f"{len(tiles)} tiles but {len(probabilities)} rows of probabilities")
    probs = np.asarray(probabilities, dtype=np.float64).reshape(len(tiles), len(_CLASSES))
    label = np.asarray(_CLASSES, dtype=object)[probs.argmax(axis=1)] if len(tiles) else []
    columns = {
        "tile_id": [t.tile_id for t in tiles],
        "region": [t.region for t in tiles],
        "acquired": [t.acquired for t in tiles],
        "label": list(label),
        **{f"p_{name}": np.round(probs[:, i], 6) for i, name in enumerate(_CLASSES)},
        "model_version": [model_version] * len(tiles),
        "source_file": [t.source_file for t in tiles],
    }
    return pa.table(columns, schema=LABEL_SCHEMA)
