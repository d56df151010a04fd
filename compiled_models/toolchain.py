"""The C compiler the appliance builds model libraries with, and whether it works.

A branch box may have no compiler at all; then models serve through XGBoost and
``appliance doctor`` says why. ``CC`` picks a compiler explicitly; otherwise the first
of gcc, clang and cc on the PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CFLAGS", "Compiler", "CompilerMissing", "find_compiler", "python_flags"]

# No -march=native: a library built here may be carried to another box of the same
# platform (the installer ships precompiled libraries), so it must not assume this CPU.
# The optimisation level is part of each build variant (see compiled_models.build).
CFLAGS: tuple[str, ...] = ("-fPIC", "-std=c99", "-fno-fast-math")

_CANDIDATES = ("gcc", "clang", "cc")
_PROBE = "double probe(double x) { return x * 2.0; }\n"


class CompilerMissing(RuntimeError):
    """No working C compiler: the message says what was tried and what failed."""


@dataclass(frozen=True)
class Compiler:
    """A C compiler that has built a shared library on this machine."""

    path: str
    version: str

    @property
    def toolchain(self) -> str:
        """The name TL2cgen's ``create_shared`` expects (gcc, clang or its path)."""
        name = Path(self.path).name
        return "clang" if "clang" in name else "gcc" if "gcc" in name else self.path

    def identity(self) -> str:
        """What goes into a library's cache key: compiler, version, flags and Python ABI."""
        abi = sysconfig.get_config_var("SOABI") if python_flags() else "no-python-entry"
        return f"{self.path}|{self.version}|{' '.join((*CFLAGS, *python_flags()))}|{abi}"


def find_compiler() -> Compiler:
    """The compiler to use, after building a one-line shared library with it.

    Raises CompilerMissing naming every candidate and why it was unusable.
    """
    return _find(os.environ.get("CC", ""), os.environ.get("PATH", ""))


@functools.lru_cache(maxsize=4)
def _find(cc: str, path: str) -> Compiler:
    candidates = [cc] if cc else list(_CANDIDATES)
    problems: list[str] = []
    for name in candidates:
        exe = shutil.which(name, path=path or None)
        if exe is None:
            problems.append(f"{name}: not found on PATH")
            continue
        try:
            return Compiler(exe, _probe(exe))
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{name}: {exc}")
    hint = " (set CC to choose one)" if not cc else ""
    raise CompilerMissing(
        "no working C compiler" + hint + ": " + "; ".join(problems)
        + ". Install one (Debian: apt-get install gcc); until then models score through XGBoost"
    )


def _probe(exe: str) -> str:
    """Build a tiny shared library with ``exe``; return its version line."""
    with tempfile.TemporaryDirectory(prefix="appliance-cc-") as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(_PROBE)
        out = subprocess.run(
            [exe, *CFLAGS, "-O1", "-shared", "-o", str(Path(tmp) / "probe.so"), str(src)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if out.returncode != 0:
            raise subprocess.SubprocessError(
                f"cannot build a shared library: {(out.stderr or out.stdout).strip()[:300]}"
            )
    version = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.splitlines()
    return version[0].strip() if version else "unknown"


def python_flags() -> tuple[str, ...]:
    """Flags that build the library's Python-callable entry point, where the headers exist.

    The entry point is tied to this interpreter's ABI (its SOABI is in the compiler's
    identity, and so in the cache key); without the headers the library is built without
    it and scores through ctypes.
    """
    include = sysconfig.get_paths().get("include", "")
    if sys.implementation.name != "cpython" or not (Path(include) / "Python.h").is_file():
        return ()
    return ("-DAPPLIANCE_PYTHON", f"-I{include}")
