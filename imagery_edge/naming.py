"""Which region and date a tile shows: a sidecar JSON, or the file-name convention.

Convention: ``<region>_<YYYY-MM-DD>[_<pass>].<tif|tiff|npy>``, e.g.
``vale_itajai_2024-03-09.tif`` (region ids are lower-case letters, digits and ``_``).
A sidecar ``<same stem>.json`` holding ``{"region": "...", "acquired": "YYYY-MM-DD"}``
takes precedence over the name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from imagery_edge.errors import BadTile

__all__ = ["TileIdentity", "sidecar_path", "tile_identity"]

_NAME = re.compile(
    r"^(?P<region>[a-z0-9][a-z0-9_]*?)_(?P<date>\d{4}-\d{2}-\d{2})(?:_(?P<tag>[A-Za-z0-9-]+))?$"
)


@dataclass(frozen=True)
class TileIdentity:
    region: str
    acquired: date


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def tile_identity(path: Path) -> TileIdentity:
    """Region and acquisition date of the tile at ``path`` (BadTile if neither source says)."""
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        return _from_sidecar(sidecar)
    match = _NAME.fullmatch(path.stem)
    if match is None:
        raise BadTile(
            f"cannot tell region and date: {path.name} does not follow "
            "<region>_<YYYY-MM-DD>.tif and has no sidecar JSON"
        )
    return TileIdentity(match["region"], _date(match["date"], path.name))


def _from_sidecar(sidecar: Path) -> TileIdentity:
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadTile(f"sidecar {sidecar.name} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise BadTile(f"sidecar {sidecar.name} must hold an object with region and acquired")
    region, acquired = raw.get("region"), raw.get("acquired")
    if not isinstance(region, str) or not isinstance(acquired, str):
        raise BadTile(f"sidecar {sidecar.name} needs string fields region and acquired")
    return TileIdentity(region, _date(acquired, sidecar.name))


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadTile(f"{text!r} in {where} is not a date (YYYY-MM-DD)") from exc
