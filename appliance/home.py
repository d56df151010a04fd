"""The data home: one directory that holds all of the appliance's state.

Backup is a copy of this directory. Nothing the appliance writes lives elsewhere,
and no name that comes from a user or a file may resolve outside it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from appliance.errors import HomeError

__all__ = ["DataHome", "safe_name"]

SUBDIRS = ("inbox", "quarantine", "lake", "models", "publish", "logs", "sources", "usecases")
CONFIG_FILE = "appliance.toml"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def safe_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it can be used as one path component, else raise HomeError."""
    if not _SAFE_NAME.fullmatch(name) or name in {".", ".."} or ".." in name:
        raise HomeError(
            f"{what} {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 128 characters)"
        )
    return name


@dataclass(frozen=True)
class DataHome:
    """Paths inside one data home. Creating the object touches nothing on disk."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def db_path(self) -> Path:
        return self.root / "appliance.db"

    def dir(self, name: str) -> Path:
        """One of the home's top-level directories (``inbox``, ``lake``, ...)."""
        if name not in SUBDIRS:
            raise HomeError(f"unknown home directory {name!r}; expected one of {SUBDIRS}")
        return self.root / name

    def inside(self, *parts: str) -> Path:
        """Join ``parts`` under the root, refusing any result that escapes it."""
        candidate = self.root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise HomeError(f"path {'/'.join(parts)!r} would leave the data home {self.root}")
        return candidate

    @property
    def config_path(self) -> Path:
        """The service and job configuration (``appliance.toml``), which people edit."""
        return self.root / CONFIG_FILE

    @property
    def is_initialised(self) -> bool:
        return self.db_path.exists()

    def require_initialised(self) -> None:
        if not self.is_initialised:
            raise HomeError(
                f"{self.root} is not an appliance data home; "
                f"run `appliance --home {self.root} init` first"
            )

    def layout(self) -> list[Path]:
        """Create the directory layout and default config; returns what was created."""
        created = []
        for name in (".", *SUBDIRS):
            path = self.root / name
            if not path.exists():
                path.mkdir(parents=True)
                created.append(path)
        created.extend(self._copy_defaults("sources"))
        created.extend(self._copy_defaults("usecases"))
        if not self.config_path.exists():
            shipped = resources.files("appliance.defaults").joinpath(CONFIG_FILE)
            with resources.as_file(shipped) as src:
                shutil.copyfile(src, self.config_path)
            created.append(self.config_path)
        return created

    def _copy_defaults(self, kind: str) -> list[Path]:
        """Copy shipped default files into ``kind/`` without overwriting edited ones."""
        copied = []
        shipped = resources.files("appliance.defaults").joinpath(kind)
        for item in shipped.iterdir():
            if not item.name.endswith(".toml"):
                continue
            target = self.dir(kind) / item.name
            if not target.exists():
                with resources.as_file(item) as src:
                    shutil.copyfile(src, target)
                copied.append(target)
        return copied
