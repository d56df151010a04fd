"""Errors the installer shows a person: one line, and an exit code.

The installer runs on the target's bare Python before the appliance exists, so it
cannot import ``appliance.errors``; this small hierarchy mirrors it (same idea, its
own root) and keeps the exit codes apart from the appliance's.
"""

from __future__ import annotations

__all__ = [
    "BuildFailed",
    "BundleMismatch",
    "BundleTampered",
    "InstallFailed",
    "InstallerError",
    "SelfTestFailed",
]


class InstallerError(Exception):
    """Root of every installer error meant for a person."""

    exit_code: int = 1


class BuildFailed(InstallerError):
    """A bundle could not be built (pip, a missing file, a bad flag)."""

    exit_code = 20


class BundleTampered(InstallerError):
    """A bundle's files do not match its manifest; nothing was installed."""

    exit_code = 21


class BundleMismatch(InstallerError):
    """The bundle was built for another Python or platform, or is no bundle at all."""

    exit_code = 22


class InstallFailed(InstallerError):
    """A step of installing failed; the previous version (if any) is still current."""

    exit_code = 23


class SelfTestFailed(InstallFailed):
    """The new version installed but its self-test failed; it was not made current."""

    exit_code = 24
