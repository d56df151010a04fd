"""The tile inbox on disk: which files wait, and moving them to done or quarantine.

A tile is a ``.tif``/``.tiff``/``.npy`` file; a ``.json`` with the same stem is its
sidecar and travels with it. Hidden files (``.name``, e.g. a copy in progress) are left
alone; any other file is not a tile and is quarantined as such.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from imagery_edge.naming import sidecar_path
from imagery_edge.raster import TILE_SUFFIXES

__all__ = ["Rejected", "TileInbox"]


@dataclass(frozen=True)
class Rejected:
    file: str
    reason: str


@dataclass(frozen=True)
class TileInbox:
    folder: Path

    def scan(self) -> tuple[list[Path], list[Rejected]]:
        """Tiles waiting, sorted by name; and files here that are neither tile nor sidecar."""
        if not self.folder.is_dir():
            return [], []
        entries = sorted(p for p in self.folder.iterdir() if p.is_file())
        entries = [p for p in entries if not p.name.startswith(".")]
        tiles = [p for p in entries if p.suffix.lower() in TILE_SUFFIXES]
        sidecars = {sidecar_path(p) for p in tiles}
        others = [p for p in entries if p not in sidecars and p not in tiles]
        reason = f"not a tile file: expected {', '.join(TILE_SUFFIXES)} (with an optional .json)"
        return tiles, [
            Rejected(p.name, "a sidecar without its tile" if p.suffix == ".json" else reason)
            for p in others
        ]

    def move_done(self, tiles: list[Path], target: Path) -> None:
        """Move classified tiles (and their sidecars) into ``target``."""
        target.mkdir(parents=True, exist_ok=True)
        for path in tiles:
            for item in (path, sidecar_path(path)):
                if item.exists():
                    shutil.move(item, target / item.name)

    def quarantine(self, rejected: list[Rejected], target: Path) -> None:
        """Write ``reasons.json`` first, then move each file (and sidecar) beside it."""
        if not rejected:
            return
        target.mkdir(parents=True, exist_ok=True)
        reasons = [{"file": r.file, "reason": r.reason} for r in rejected]
        tmp = target / ".reasons.json.tmp"
        tmp.write_text(json.dumps(reasons, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target / "reasons.json")
        for item in rejected:
            path = self.folder / item.file
            for part in (path, sidecar_path(path)):
                if part.exists():
                    shutil.move(part, target / part.name)
