"""One version's virtual environment, made from the bundle's wheels and nothing else.

pip runs with ``--no-index --find-links wheelhouse/`` and no pip configuration (see
``selftest.child_env``), so nothing is looked up anywhere. The bundle carries pip's own
wheel, which installs into an environment made without ``ensurepip``; bytecode is then
compiled in parallel, leaving out the libraries' own test suites.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from installer.errors import InstallFailed
from installer.progress import Progress

__all__ = ["make_environment"]


def make_environment(
    python: Path,
    folder: Path,
    wheelhouse: Path,
    app_wheel: Path,
    env: Mapping[str, str],
    progress: Progress,
) -> Path:
    """Create ``folder`` as a virtual environment holding ``app_wheel`` and its
    dependencies from ``wheelhouse``; returns its Python."""
    pip_wheels = sorted(wheelhouse.glob("pip-*.whl"))
    progress("creating the virtual environment")
    bare = ["--without-pip"] if pip_wheels else []
    _run([str(python), "-m", "venv", *bare, str(folder)], env,
         "creating a virtual environment (Debian: apt-get install python3-venv)")  # fmt: skip
    venv_python = folder / "bin" / "python"
    pip = [str(venv_python), str(pip_wheels[-1] / "pip")] if pip_wheels else [
        str(venv_python), "-m", "pip"]  # fmt: skip
    count = len(list(wheelhouse.glob("*.whl")))
    progress(f"pip install --no-index from the bundle's {count} wheels")
    _run([
        *pip, "install", "--no-index", "--find-links", str(wheelhouse), "--only-binary=:all:",
        "--no-cache-dir", "--no-compile", "--disable-pip-version-check",
        "--root-user-action=ignore", str(app_wheel),
    ], env, "pip install --no-index")  # fmt: skip
    progress("compiling bytecode")
    _run([str(venv_python), "-m", "compileall", "-q", "-j", "0", "-x", r"/tests?/",
          str(folder / "lib")], env, "compiling bytecode")  # fmt: skip
    return venv_python


def _run(cmd: list[str], env: Mapping[str, str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(env), check=False)
    if done.returncode != 0:
        tail = " | ".join((done.stderr + done.stdout).strip().splitlines()[-4:])
        raise InstallFailed(f"{what} failed (exit {done.returncode}): {tail}")
