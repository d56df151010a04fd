"""``python -m installer build``: the offline bundle, reproducibly.

Steps: read the project, fetch (or reuse) the runtime wheelhouse, build the
appliance's wheel from a clean copy of the source, gather the installer, templates,
default config and optional precompiled libraries, hash everything into the manifest
and write ``dist/appliance-<version>-<pyXY>-<platform>.tar.gz`` with a ``.sha256`` beside.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from installer.appwheel import build_app_wheel
from installer.archive import Entry, write_archive
from installer.bundle import BundleInfo, BundleInputs, content_entries, largest, with_manifest
from installer.errors import BuildFailed
from installer.manifest import sha256_file
from installer.progress import Progress
from installer.target import Target
from installer.wheelhouse import fetch_wheelhouse, read_project

__all__ = ["INSTALL_TOOLS", "BuildOptions", "BuildReport", "build_bundle"]

_HERE = Path(__file__).resolve().parent
INSTALL_TOOLS = ("pip",)
"""Carried besides the runtime: the target's pip runs from its wheel (no ensurepip needed)."""


@dataclass(frozen=True)
class BuildOptions:
    source: Path
    """The project folder (holds pyproject.toml)."""
    out_dir: Path
    target: Target
    cache_dir: Path
    libraries: Path | None = None
    """A folder of precompiled model libraries to carry along, copied in as is."""
    refresh: bool = False
    """Download the wheelhouse again even when the cache has it."""


@dataclass(frozen=True)
class BuildReport:
    path: Path
    size: int
    files: int
    info: BundleInfo
    largest: list[tuple[str, int]]
    manifest_sha256: str
    seconds: float


def build_bundle(options: BuildOptions, progress: Progress) -> BuildReport:
    started = time.monotonic()
    project = read_project(options.source / "pyproject.toml")
    requirements = tuple(project["dependencies"])
    progress(f"{project['name']} {project['version']}: {len(requirements)} runtime requirements")
    wheelhouse = fetch_wheelhouse(
        (*requirements, *INSTALL_TOOLS), options.target, options.cache_dir, progress,
        refresh=options.refresh,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="appliance-build-") as tmp:
        app_wheel = build_app_wheel(options.source, Path(tmp), progress)
        inputs = _inputs(options, project, requirements, wheelhouse, app_wheel)
        progress(f"hashing {len(inputs.wheels)} wheels and the rest into the manifest")
        contents = [_read_once(e) for e in content_entries(inputs)]
        hashes = {
            e.path: sha256_file(e.source) if e.source else _sha256_bytes(e.data or b"")
            for e in contents
        }
        entries = with_manifest(contents, hashes)
        options.out_dir.mkdir(parents=True, exist_ok=True)
        dest = options.out_dir / f"{inputs.info.top}.tar.gz"
        progress(f"writing {dest}")
        write_archive(entries, inputs.info.top, dest)
        biggest = largest(entries)
    digest = sha256_file(dest)
    (dest.parent / f"{dest.name}.sha256").write_text(f"{digest}  {dest.name}\n", encoding="utf-8")
    manifest = next(e for e in entries if e.path == "MANIFEST.sha256").data or b""
    report = BuildReport(
        dest, dest.stat().st_size, len(entries), inputs.info, biggest,
        _sha256_bytes(manifest), round(time.monotonic() - started, 1),
    )  # fmt: skip
    progress(f"bundle {dest.name}: {report.size / 1e6:,.1f} MB, {report.files} files")
    return report


def _read_once(entry: Entry) -> Entry:
    """Small files are read into memory, so the bytes hashed are the bytes archived even
    if someone edits the source meanwhile; wheels (immutable, large) stay on disk."""
    if entry.source is None or entry.path.startswith("wheelhouse/"):
        return entry
    return Entry(entry.path, data=entry.source.read_bytes(), executable=entry.executable)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(
    options: BuildOptions,
    project: dict,
    requirements: tuple[str, ...],
    wheelhouse: Path,
    app_wheel: Path,
) -> BundleInputs:
    wheels = {p.name: p for p in sorted(wheelhouse.glob("*.whl"))}
    if app_wheel.name in wheels:
        raise BuildFailed(f"the wheelhouse already holds {app_wheel.name}; "
                          "is the appliance listed as its own dependency?")  # fmt: skip
    wheels[app_wheel.name] = app_wheel
    info = BundleInfo(
        name=project["name"], version=project["version"], python=options.target.python,
        platform=options.target.platform_name, platforms=options.target.platforms,
        app_wheel=f"wheelhouse/{app_wheel.name}", requirements=requirements,
        wheels=tuple(sorted(wheels)), libraries=tuple(sorted(_libraries(options.libraries))),
    )  # fmt: skip
    home_config = options.source / "appliance" / "defaults" / "appliance.toml"
    return BundleInputs(
        info=info,
        wheels=wheels,
        installer_files={p.name: p for p in sorted(_HERE.glob("*.py"))},
        install_script=_HERE / "install.sh",
        unit_template=_HERE / "appliance.service.in",
        env_template=_HERE / "appliance.env.in",
        home_config=home_config if home_config.is_file() else None,
        libraries=_libraries(options.libraries),
    )


def _libraries(folder: Path | None) -> dict[str, Path]:
    if folder is None:
        return {}
    if not folder.is_dir():
        raise BuildFailed(f"--libraries {folder}: no such folder")
    found = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if path.is_symlink():
                raise BuildFailed(f"--libraries: {path} is a symbolic link; copy the file in")
            found[path.relative_to(folder).as_posix()] = path
    if not found:
        raise BuildFailed(f"--libraries {folder} holds no files")
    return found
