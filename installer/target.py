"""Which Python and platform a bundle is for, and what that means for names and pip.

Pure: the running interpreter is passed in (``Target.here()`` reads it once).
"""

from __future__ import annotations

import platform
import sys
import sysconfig
from dataclasses import dataclass

from installer.errors import BuildFailed, BundleMismatch

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    """A Python version and platform tags; ``platforms`` empty means "this machine"."""

    python: str
    """``3.11``: major.minor of the interpreter the bundle installs into."""
    platforms: tuple[str, ...] = ()
    """pip platform tags (``manylinux_2_28_x86_64``); empty: the build machine's own."""
    local_platform: str = ""
    """The build machine's platform (``linux_x86_64``), used in the name when no tag is given."""

    def __post_init__(self) -> None:
        parts = self.python.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[0] != "3":
            raise BuildFailed(f"--python {self.python!r}: give major.minor, e.g. 3.11")
        for tag in self.platforms:
            if not tag or not all(c.isalnum() or c == "_" for c in tag):
                raise BuildFailed(f"--platform {tag!r}: give a pip tag like manylinux_2_28_x86_64")

    @classmethod
    def here(cls, python: str | None = None, platforms: tuple[str, ...] = ()) -> Target:
        local = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        mine = f"{sys.version_info.major}.{sys.version_info.minor}"
        return cls(python or mine, tuple(platforms), local)

    @property
    def py_tag(self) -> str:
        return "py" + self.python.replace(".", "")

    @property
    def platform_name(self) -> str:
        return self.platforms[0] if self.platforms else self.local_platform

    def is_local(self, running_python: str) -> bool:
        return not self.platforms and self.python == running_python

    def pip_flags(self, running_python: str) -> list[str]:
        """Flags for ``pip download``: wheels only, and the target when it is not this one."""
        flags = ["--only-binary=:all:"]
        if not self.is_local(running_python):
            flags += ["--python-version", self.python, "--implementation", "cp"]
            for tag in self.platforms:
                flags += ["--platform", tag]
        return flags

    def check_runs_on(self, python: str, machine: str, os_name: str) -> None:
        """Refuse a bundle whose wheels cannot load here (BundleMismatch says why)."""
        if python != self.python:
            raise BundleMismatch(
                f"this bundle is for Python {self.python} and this is Python {python}; "
                f"run install.sh with PYTHON=python{self.python}, or build a bundle "
                f"with --python {python}"
            )
        name = self.platform_name
        if not name.startswith(os_name) and not name.startswith(f"many{os_name}"):
            raise BundleMismatch(f"this bundle is for {name}; this machine runs {os_name}")
        if not name.endswith(machine):
            raise BundleMismatch(f"this bundle is for {name}; this machine is {machine}")

    @staticmethod
    def running() -> tuple[str, str, str]:
        """(python major.minor, machine, os) of this interpreter."""
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        return py, platform.machine(), sys.platform
