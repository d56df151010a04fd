"""The appliance's own wheel, built reproducibly from a clean copy of the source.

Building in a fresh copy keeps stale files in a local ``build/`` folder out of the
wheel; ``SOURCE_DATE_EPOCH`` fixes the timestamps inside it, so the same source gives
the same wheel bytes.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from installer.errors import BuildFailed
from installer.progress import Progress

__all__ = ["SOURCE_DATE_EPOCH", "build_app_wheel", "source_files"]

SOURCE_DATE_EPOCH = 315532800
"""1980-01-01, the earliest time a zip file can hold: every timestamp in the bundle."""

_TOP_FILES = ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in")
_SKIPPED_DIRS = frozenset({"__pycache__", "build", "dist"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".nbi", ".nbc", ".so")


def source_files(source: Path) -> list[Path]:
    """The files a wheel is built from: the top files and every listed package's tree."""
    try:
        config = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildFailed(f"cannot read {source / 'pyproject.toml'}: {exc}") from exc
    find = config.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    patterns = find.get("include", ["*"])
    files = [source / name for name in _TOP_FILES if (source / name).is_file()]
    for entry in sorted(source.iterdir()):
        matched = any(fnmatch.fnmatch(entry.name, p) for p in patterns)
        if entry.is_dir() and matched and (entry / "__init__.py").is_file():
            files.extend(_tree(entry))
    return files


def _tree(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info"))
        found.extend(Path(folder) / n for n in sorted(names) if not n.endswith(_SKIPPED_SUFFIXES))
    return found


def build_app_wheel(source: Path, out_dir: Path, progress: Progress) -> Path:
    """Build the wheel of the project in ``source`` into ``out_dir``; returns its path."""
    with tempfile.TemporaryDirectory(prefix="appliance-wheel-") as tmp:
        copy = Path(tmp) / "src"
        for path in source_files(source):
            target = copy / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        progress(f"building the appliance wheel from {source}")
        built = Path(tmp) / "wheel"
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
        cmd = [
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
            "--wheel-dir", str(built), str(copy),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wheels = list(built.glob("*.whl")) if built.is_dir() else []
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise BuildFailed("building the appliance wheel failed: " + " | ".join(tail))
        out_dir.mkdir(parents=True, exist_ok=True)
        final = out_dir / wheels[0].name
        shutil.copyfile(wheels[0], final)
    return final
