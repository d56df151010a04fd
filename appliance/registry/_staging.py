"""Moving a training run's staging directory to its numbered place under ``models/``.

A trainer writes into ``models/<model>/.staging-<token>/``; registration renames that
directory to ``models/<model>/<version>/``. Both live in the same parent, so the rename
is one atomic step on one file system.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from appliance.errors import HomeError, NotFound, SchemaError
from appliance.home import DataHome, safe_name

__all__ = [
    "STAGING_PREFIX",
    "check_staging",
    "make_staging",
    "model_dir",
    "move_back",
    "move_into_place",
    "sync_dir",
]

STAGING_PREFIX = ".staging-"


def model_dir(home: DataHome, model: str) -> Path:
    return home.inside("models", safe_name(model, "model name"))


def make_staging(home: DataHome, model: str) -> Path:
    """A fresh, empty staging directory for one training run of ``model``."""
    parent = model_dir(home, model)
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
    path.mkdir()
    return path


def check_staging(home: DataHome, model: str, staging: Path, files: list[str]) -> Path:
    """The resolved staging directory, after checking where it is and what it holds."""
    if not staging.is_dir():
        raise NotFound(f"staging directory {staging} does not exist; nothing was registered")
    resolved = staging.resolve()
    if resolved.parent != model_dir(home, model) or not resolved.name.startswith(STAGING_PREFIX):
        raise HomeError(
            f"staging directory {staging} must be models/{model}/{STAGING_PREFIX}* inside the "
            f"data home {home.root}; create it with make_staging(home, {model!r})"
        )
    for name in files:
        path = resolved / name
        if path.is_symlink() or not path.is_file():
            raise SchemaError(f"staging directory {staging} has no regular file {name!r}")
    return resolved


def move_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``. A ``target`` left by a crash before its version was
    committed (no row names it) is moved aside first, never deleted."""
    if target.exists():
        aside = target.with_name(f".orphan-{target.name}-{secrets.token_hex(4)}")
        os.rename(target, aside)
    os.rename(staging, target)


def sync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable before the transaction that records it commits."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_back(target: Path, staging: Path) -> None:
    """Undo ``move_into_place`` after the transaction failed to commit (best effort)."""
    with contextlib.suppress(OSError):
        os.rename(target, staging)
