"""``python -m installer uninstall``: remove an install, keeping the data home unless asked.

Only a prefix the installer made (it holds ``.appliance-prefix``) is removed; the home
is removed only with ``--purge-home`` and only if it is a data home.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from installer.errors import InstallFailed
from installer.layout import MARKER, Prefix
from installer.progress import Progress
from installer.service import SERVICE

__all__ = ["UninstallReport", "uninstall"]


@dataclass(frozen=True)
class UninstallReport:
    prefix: Path
    home: Path | None
    """The data home, if the install knew it."""
    home_purged: bool
    service_removed: Path | None


def uninstall(
    prefix_dir: Path, progress: Progress, *, purge_home: bool = False, home: Path | None = None
) -> UninstallReport:
    prefix = Prefix(prefix_dir.absolute())
    if not prefix.root.is_dir():
        raise InstallFailed(f"nothing is installed at {prefix.root}")
    if not prefix.is_ours():
        raise InstallFailed(f"{prefix.root} has no {MARKER}: the installer did not make it, so "
                            "it removes nothing there")  # fmt: skip
    marker = prefix.read_marker()
    known_home = Path(marker["home"]) if marker.get("home") else None
    if purge_home:
        _check_purge(home, prefix)
    removed_unit = _remove_service(Path(marker["service_unit"]), progress) if marker.get(
        "service_unit") else None  # fmt: skip
    progress(f"removing {prefix.root}")
    shutil.rmtree(prefix.root)
    if purge_home and home is not None:
        progress(f"removing the data home {home}")
        shutil.rmtree(home)
    elif known_home is not None:
        progress(f"the data home {known_home} is kept")
    return UninstallReport(prefix.root, home if purge_home else known_home, purge_home,
                           removed_unit)  # fmt: skip


def _check_purge(home: Path | None, prefix: Prefix) -> None:
    if home is None:
        raise InstallFailed("--purge-home needs --home DIR: name the data home to delete")
    home = home.absolute()
    if not (home / "appliance.db").is_file():
        raise InstallFailed(f"--home {home} is not a data home (no appliance.db); not deleting it")
    if prefix.root.is_relative_to(home):
        raise InstallFailed(f"--home {home} contains the prefix; not deleting it")


def _remove_service(unit: Path, progress: Progress) -> Path | None:
    """Stop and disable the enabled unit, then delete its file."""
    systemctl = shutil.which("systemctl")
    if systemctl is not None:
        for step in (["disable", "--now", SERVICE], ["daemon-reload"]):
            subprocess.run([systemctl, *step], capture_output=True, text=True, check=False)
    try:
        unit.unlink(missing_ok=True)
    except OSError as exc:
        raise InstallFailed(f"cannot remove {unit} ({exc.strerror}); run as root") from exc
    progress(f"service stopped, disabled and removed: {unit}")
    return unit
