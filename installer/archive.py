"""A reproducible ``.tar.gz``: sorted members, fixed times, owners and modes, gzip mtime 0.

``Entry`` values describe the archive (pure); ``write_archive`` streams them out.
The same entries give the same bytes, whoever builds them and whenever.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from installer.appwheel import SOURCE_DATE_EPOCH
from installer.errors import BundleTampered

__all__ = ["Entry", "extract_archive", "write_archive"]

_COMPRESSLEVEL = 6  # wheels are compressed already: higher levels only cost time


@dataclass(frozen=True)
class Entry:
    """One file in the archive: its path inside the bundle and where its bytes come from."""

    path: str
    source: Path | None = None
    data: bytes | None = None
    executable: bool = False

    def __post_init__(self) -> None:
        pure = PurePosixPath(self.path)
        if pure.is_absolute() or ".." in pure.parts or not self.path:
            raise ValueError(f"archive path {self.path!r} must be relative and stay inside")
        if (self.source is None) == (self.data is None):
            raise ValueError(f"{self.path}: give exactly one of source and data")

    def open(self) -> tuple[int, BinaryIO]:
        """The entry's size and a reader of its bytes."""
        if self.source is not None:
            return self.source.stat().st_size, self.source.open("rb")
        data = self.data or b""
        return len(data), io.BytesIO(data)


def _info(
    name: str, size: int, *, directory: bool = False, executable: bool = False
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory or executable else 0o644
    info.mtime = SOURCE_DATE_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _directories(paths: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for path in paths:
        found.update(str(parent) for parent in PurePosixPath(path).parents if str(parent) != ".")
    return sorted(found)


def write_archive(entries: Iterable[Entry], top: str, dest: Path) -> None:
    """Write ``entries`` under the folder ``top`` into ``dest`` (via a temporary name)."""
    ordered = sorted(entries, key=lambda e: e.path)
    temp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with (
            temp.open("wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_COMPRESSLEVEL
            ) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_info(top, 0, directory=True))
            for folder in _directories(e.path for e in ordered):
                tar.addfile(_info(f"{top}/{folder}", 0, directory=True))
            for entry in ordered:
                size, reader = entry.open()
                with reader:
                    info = _info(f"{top}/{entry.path}", size, executable=entry.executable)
                    tar.addfile(info, reader)
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


def extract_archive(archive: Path, into: Path) -> Path:
    """Unpack a bundle safely (no links, nothing outside ``into``); returns its top folder."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            tops = {PurePosixPath(m.name).parts[0] for m in members if m.name}
            if len(tops) != 1:
                raise tarfile.TarError(f"expected one top folder, found {len(tops)}")
            if bad := [m.name for m in members if not (m.isfile() or m.isdir())]:
                raise tarfile.TarError(f"{bad[0]} is a link or device, not a file")
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        raise BundleTampered(
            f"{archive} is not a readable bundle: {exc}; nothing was installed"
        ) from exc
    return into / tops.pop()
