"""SHA-256 manifests: every file of a bundle, in ``sha256sum`` format.

``render``/``parse`` are pure; ``hash_tree`` and ``verify_tree`` read files. A bundle
verifies when every listed file has its listed hash and no file is left unlisted
(an extra wheel would otherwise be installed unnoticed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

from installer.errors import BundleTampered

__all__ = ["MANIFEST", "hash_tree", "parse", "render", "sha256_file", "verify_tree"]

MANIFEST = "MANIFEST.sha256"
_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def render(hashes: Mapping[str, str]) -> str:
    """``<hex>  <path>`` per line, sorted by path, as ``sha256sum -c`` reads it."""
    return "".join(f"{hashes[path]}  {path}\n" for path in sorted(hashes))


def parse(text: str, origin: str = MANIFEST) -> dict[str, str]:
    """Path -> hex digest; BundleTampered names the first malformed line."""
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, path = line.partition("  ")
        pure = PurePosixPath(path)
        if (
            not sep or len(digest) != 64 or not set(digest) <= _HEX or not path
            or pure.is_absolute() or ".." in pure.parts or path in hashes
        ):  # fmt: skip
            raise BundleTampered(f"{origin} line {number} is malformed or repeated: {line[:90]!r}")
        hashes[path] = digest
    return hashes


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> Iterator[str]:
    """Every file under ``root`` as a relative POSIX path; Python's own caches skipped."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            yield (Path(folder) / name).relative_to(root).as_posix()


def hash_tree(root: Path, exclude: frozenset[str] = frozenset({MANIFEST})) -> dict[str, str]:
    return {rel: sha256_file(root / rel) for rel in sorted(_files(root)) if rel not in exclude}


def verify_tree(root: Path) -> int:
    """Check ``root`` against its ``MANIFEST.sha256``; returns the number of files checked.

    Raises BundleTampered naming the first changed, missing, unlisted or linked file.
    """
    try:
        listed = parse((root / MANIFEST).read_text(encoding="utf-8"), str(root / MANIFEST))
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleTampered(f"cannot read {root / MANIFEST}: {exc}") from exc
    present = set(_files(root)) - {MANIFEST}
    nothing = "; nothing was installed"
    if unlisted := sorted(present - set(listed)):
        raise BundleTampered(f"{unlisted[0]} is in the bundle but not in {MANIFEST}{nothing}")
    if missing := sorted(set(listed) - present):
        raise BundleTampered(f"{missing[0]} is listed in {MANIFEST} but missing{nothing}")
    for rel in sorted(listed):
        path = root / rel
        if path.is_symlink():
            raise BundleTampered(f"{rel} is a symbolic link; bundles hold plain files{nothing}")
        found = sha256_file(path)
        if found != listed[rel]:
            raise BundleTampered(
                f"{rel} has SHA-256 {found[:16]}…, but {MANIFEST} says {listed[rel][:16]}…: "
                f"the bundle was changed or damaged in transit{nothing}"
            )
    return len(listed)
