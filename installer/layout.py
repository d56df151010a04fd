"""The install prefix: versions side by side, ``current`` switched atomically.

::

    PREFIX/.appliance-prefix      marks the folder as ours (JSON: home, service unit)
    PREFIX/versions/<name>/       one virtual environment per installed version
    PREFIX/current                symbolic link to versions/<name>, replaced in one rename
    PREFIX/bin/appliance          link to current/bin/appliance
    PREFIX/etc/appliance.env      the service's environment, written once
    PREFIX/systemd/appliance.service
    PREFIX/snapshots/             the store as it was before the latest upgrade migrated it
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer.errors import InstallFailed

__all__ = ["MARKER", "Prefix", "check_version"]

MARKER = ".appliance-prefix"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise InstallFailed(f"version {version!r} cannot name a folder")
    return version


@dataclass(frozen=True)
class Prefix:
    root: Path

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "appliance.env"

    @property
    def unit_file(self) -> Path:
        return self.root / "systemd" / "appliance.service"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    def is_ours(self) -> bool:
        return self.marker.is_file()

    def read_marker(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.marker.read_text(encoding="utf-8"))
            return data
        except (OSError, ValueError):
            return {}

    def write_marker(self, **fields: Any) -> None:
        data = {**self.read_marker(), **fields}
        _write_atomically(self.marker, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def current_name(self) -> str | None:
        """The folder under versions/ that ``current`` points at, or None."""
        if not self.current.is_symlink():
            return None
        return Path(os.readlink(self.current)).name

    def free_version_dir(self, version: str) -> Path:
        """``versions/<version>``, or ``<version>-2``, ... when that one is taken."""
        base = check_version(version)
        candidate, n = self.versions / base, 1
        while candidate.exists() or candidate.is_symlink():
            n += 1
            candidate = self.versions / f"{base}-{n}"
        return candidate

    def switch(self, version_dir: Path) -> None:
        """Point ``current`` (and ``bin/appliance``) at ``version_dir`` in one rename."""
        link = self.root / f".current.{os.getpid()}.tmp"
        link.unlink(missing_ok=True)
        os.symlink(Path("versions") / version_dir.name, link)
        os.replace(link, self.current)
        _sync_dir(self.root)
        command = self.root / "bin" / "appliance"
        if not command.is_symlink():
            command.parent.mkdir(parents=True, exist_ok=True)
            command.unlink(missing_ok=True)
            os.symlink(Path("..") / "current" / "bin" / "appliance", command)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
