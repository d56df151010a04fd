"""The runtime wheelhouse: every wheel the appliance needs, fetched once and cached.

The requirements are ``[project].dependencies`` of pyproject.toml and nothing else
(never the ``dev``, ``imagery-train`` or ``gpu`` extras). ``pip download`` uses pip's
own configuration (the mirror in pip.conf), wheels only. The result is cached under
``<cache>/wheelhouse-<key>/`` where the key hashes the requirements and the target,
with a ``SHA256SUMS`` that is checked before a cached wheelhouse is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from installer.errors import BuildFailed, BundleTampered
from installer.manifest import hash_tree, parse, render, sha256_file
from installer.progress import Progress
from installer.target import Target

__all__ = [
    "FORBIDDEN",
    "KEEP_CACHED",
    "Downloader",
    "cache_key",
    "default_cache_dir",
    "fetch_wheelhouse",
    "pip_download",
    "read_project",
    "requirement_name",
]

FORBIDDEN = ("tensorflow", "tensorflow-cpu", "tf-nightly", "keras")
"""Never in a runtime wheelhouse: the hazard model's training stack."""
_SUMS = "SHA256SUMS"
KEEP_CACHED = 3
"""Wheelhouses kept in the cache (one per requirement set and target), newest first."""

Downloader = Callable[[Sequence[str], Target, Path], None]


def read_project(pyproject: Path) -> dict[str, Any]:
    """``[project]`` of a pyproject.toml: name, version and runtime dependencies checked."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise BuildFailed(f"cannot read [project] from {pyproject}: {exc}") from exc
    for key in ("name", "version", "dependencies"):
        if key not in project:
            raise BuildFailed(f"{pyproject}: [project] has no {key!r}")
    banned = [r for r in project["dependencies"] if requirement_name(r) in FORBIDDEN]
    if banned:
        raise BuildFailed(f"{pyproject}: runtime dependency {banned[0]!r} is training-only; "
                          "move it to an extra")  # fmt: skip
    return dict(project)


def requirement_name(requirement: str) -> str:
    """The normalised project name at the start of a requirement string."""
    name = ""
    for char in requirement.strip():
        if not (char.isalnum() or char in "-_."):
            break
        name += char
    return name.lower().replace("_", "-").replace(".", "-")


def cache_key(requirements: Sequence[str], target: Target) -> str:
    """A short hash of what decides the wheelhouse's content."""
    payload = json.dumps(
        {"requirements": sorted(requirements), "python": target.python,
         "platforms": list(target.platforms) or [target.local_platform]},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appliance-installer"


def fetch_wheelhouse(
    requirements: Sequence[str],
    target: Target,
    cache_dir: Path,
    progress: Progress,
    *,
    refresh: bool = False,
    download: Downloader | None = None,
) -> Path:
    """A folder of wheels for ``requirements`` on ``target``: from the cache, else pip.

    ``download(requirements, target, folder)`` fills a folder (default: ``pip download``).
    """
    folder = cache_dir / f"wheelhouse-{cache_key(requirements, target)}"
    if folder.is_dir() and not refresh:
        problem = _cache_problem(folder)
        if problem is None:
            progress(f"wheelhouse from the cache {folder}")
            os.utime(folder)  # recently used: kept by _prune
            return folder
        progress(f"cached wheelhouse unusable ({problem}); downloading again")
    fresh = cache_dir / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    progress(f"pip download of {len(requirements)} requirements for {target.py_tag} "
             f"{target.platform_name} (wheels only)")  # fmt: skip
    (download or pip_download)(requirements, target, fresh)
    _check_wheels(fresh)
    (fresh / _SUMS).write_text(render(hash_tree(fresh, frozenset({_SUMS}))), encoding="utf-8")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        folder.rename(old)
    try:
        fresh.rename(folder)
    except OSError:  # another build filled it meanwhile: use theirs
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    _prune(cache_dir, keep=KEEP_CACHED, progress=progress)
    return folder


def _prune(cache_dir: Path, keep: int, progress: Progress) -> None:
    """Remove all but the ``keep`` most recently used wheelhouses."""
    cached = sorted(cache_dir.glob("wheelhouse-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in cached[keep:]:
        progress(f"removing the least recently used cached wheelhouse {stale.name}")
        shutil.rmtree(stale, ignore_errors=True)


def _cache_problem(folder: Path) -> str | None:
    try:
        listed = parse((folder / _SUMS).read_text(encoding="utf-8"), str(folder / _SUMS))
    except (OSError, UnicodeDecodeError, BundleTampered) as exc:
        return f"no readable {_SUMS}: {exc}"
    present = {p.name for p in folder.iterdir() if p.name != _SUMS}
    if present != set(listed):
        return "its files differ from its list"
    for name, digest in listed.items():
        if sha256_file(folder / name) != digest:
            return f"{name} changed"
    return None


def pip_download(requirements: Sequence[str], target: Target, dest: Path) -> None:
    """``pip download`` of wheels only, through pip's own configuration (the mirror)."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--dest", str(dest), *target.pip_flags(running), *requirements,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BuildFailed("pip download failed: " + " | ".join(tail))


def _check_wheels(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        raise BuildFailed("pip download produced no wheels")
    if other := [n for n in names if not n.endswith(".whl")]:
        raise BuildFailed(f"pip download produced {other[0]}, which is no wheel")
    banned = [n for n in names if requirement_name(n.split("-")[0]) in FORBIDDEN]
    if banned:
        raise BuildFailed(f"{banned[0]} was pulled in by a runtime dependency; TensorFlow "
                          "never goes into the bundle")  # fmt: skip
