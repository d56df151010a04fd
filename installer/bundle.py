"""What a bundle holds: its description (``bundle.json``) and the list of its files.

Layout inside the top folder ``appliance-<version>-<pyXY>-<platform>/``::

    install.sh                 the entry point IT runs (checks the manifest, then installs)
    MANIFEST.sha256            SHA-256 of every other file
    bundle.json                name, version, target, the wheels, the appliance's wheel
    installer/*.py             this package, run by install.sh on the target's Python
    wheelhouse/*.whl           every runtime dependency and the appliance's own wheel
    config/appliance.env       the service's environment (the data home)
    config/appliance.toml      the data home's default configuration
    systemd/appliance.service.in   the unit file template
    libraries/...              precompiled model libraries (only with --libraries)

``content_entries`` and ``with_manifest`` are pure: it turns those inputs into archive entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from installer.archive import Entry
from installer.errors import BundleMismatch
from installer.manifest import MANIFEST, render

__all__ = [
    "BUNDLE_INFO", "BundleInfo", "BundleInputs", "content_entries", "largest", "with_manifest",
]  # fmt: skip

BUNDLE_INFO = "bundle.json"
FORMAT = 1


@dataclass(frozen=True)
class BundleInfo:
    """``bundle.json``: what the bundle installs and for which target."""

    name: str
    version: str
    python: str
    platform: str
    platforms: tuple[str, ...]
    """pip tags it was built for; empty: the build machine's own platform."""
    app_wheel: str
    requirements: tuple[str, ...]
    wheels: tuple[str, ...]
    libraries: tuple[str, ...] = ()
    format: int = FORMAT

    @property
    def top(self) -> str:
        """The bundle's folder (and tarball) name."""
        return f"appliance-{self.version}-py{self.python.replace('.', '')}-{self.platform}"

    def to_json(self) -> bytes:
        data = asdict(self)
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, text: str, origin: str) -> BundleInfo:
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
            tuples = ("platforms", "requirements", "wheels", "libraries")
            fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            raise BundleMismatch(f"{origin} is not a bundle description this installer "
                                 f"reads: {exc}") from exc  # fmt: skip


@dataclass(frozen=True)
class BundleInputs:
    """Everything a bundle is made of, already on disk."""

    info: BundleInfo
    wheels: Mapping[str, Path]
    """Wheel file name -> its file (the wheelhouse and the appliance's wheel)."""
    installer_files: Mapping[str, Path]
    """Path under ``installer/`` -> file (Python sources of this package)."""
    install_script: Path
    unit_template: Path
    env_template: Path
    home_config: Path | None = None
    libraries: Mapping[str, Path] = field(default_factory=dict)
    """Path under ``libraries/`` -> file."""


def with_manifest(entries: Sequence[Entry], hashes: Mapping[str, str]) -> list[Entry]:
    """``entries`` plus ``MANIFEST.sha256``; ``hashes`` maps every entry's path to its SHA-256."""
    paths = {e.path for e in entries}
    if paths != set(hashes):
        raise ValueError(f"hashes do not match the entries: {sorted(paths ^ set(hashes))[:3]}")
    return [*entries, Entry(MANIFEST, data=render(hashes).encode("utf-8"))]


def content_entries(inputs: BundleInputs) -> list[Entry]:
    """Every file of the bundle except the manifest, sorted by path."""
    entries = [
        Entry("install.sh", source=inputs.install_script, executable=True),
        Entry(BUNDLE_INFO, data=inputs.info.to_json()),
        Entry("systemd/appliance.service.in", source=inputs.unit_template),
        Entry("config/appliance.env.in", source=inputs.env_template),
    ]
    if inputs.home_config is not None:
        entries.append(Entry("config/appliance.toml", source=inputs.home_config))
    entries += [Entry(f"installer/{rel}", source=p) for rel, p in inputs.installer_files.items()]
    entries += [Entry(f"wheelhouse/{name}", source=p) for name, p in inputs.wheels.items()]
    entries += [Entry(f"libraries/{rel}", source=p) for rel, p in inputs.libraries.items()]
    return sorted(entries, key=lambda e: e.path)


def largest(entries: Sequence[Entry], count: int = 8) -> list[tuple[str, int]]:
    """The ``count`` biggest files: where a bundle's size goes."""
    sizes = [(e.path, e.source.stat().st_size if e.source else len(e.data or b"")) for e in entries]
    return sorted(sizes, key=lambda item: -item[1])[:count]
