"""Backup and restore of a data home, taken while the service runs.

``backup_home`` snapshots the store with SQLite's online backup API (one read
transaction: a consistent picture while writers carry on), then copies the files.
Files come *after* the snapshot on purpose: everything a committed row refers to (a
lake version, a model folder) was written before the row, so it exists when copied;
files newer than the snapshot come along unreferenced and do no harm. Every file is
hashed while it is copied into ``MANIFEST.sha256``; ``restore_home`` checks every byte
against it, into a staging folder, before the restored home replaces anything.

Not copied (see ``is_backed_up``): ``logs/`` (diagnostics), ``inbox/done/`` (originals
already ingested: their rows are in the lake or quarantine, their hashes in the store),
the store's ``-wal``/``-shm`` side files, and work in progress (``.tmp-*``, ``.staging-*``,
``*.tmp``, ``*.lock``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from appliance.errors import ArtifactTampered, HomeError
from appliance.home import SUBDIRS, DataHome

__all__ = [
    "BACKUP_INFO",
    "MANIFEST",
    "BackupDamaged",
    "BackupReport",
    "RestoreReport",
    "backup_home",
    "is_backed_up",
    "parse_manifest",
    "render_manifest",
    "restore_home",
]

MANIFEST = "MANIFEST.sha256"
BACKUP_INFO = "BACKUP.json"
SKIPPED = ("logs/", "inbox/done/")
_STORE = "appliance.db"
_STORE_SIDE_FILES = frozenset({f"{_STORE}-wal", f"{_STORE}-shm", f"{_STORE}-journal"})
_CHUNK = 1 << 20

Progress = Callable[[str], None]


class BackupDamaged(ArtifactTampered):
    """A backup's files do not match its manifest: one is changed, missing or extra."""


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    files: int
    """Files in the backup, the store snapshot included."""
    bytes: int
    schema_version: int
    skipped: tuple[str, ...]
    """What was left out on purpose (home-relative folders)."""
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    home: Path
    files: int
    bytes: int
    schema_version: int
    """The store's schema version after restore (migrations run on the restored store)."""
    backup_created_at: str
    replaced: Path | None
    """Where the home that was there before now is (``force``), else None."""


def is_backed_up(relative: PurePosixPath) -> bool:
    """Whether a file at this home-relative path belongs in a backup."""
    text = relative.as_posix()
    if any(text.startswith(folder) for folder in SKIPPED):
        return False
    if len(relative.parts) == 1 and (
        text == _STORE or text in _STORE_SIDE_FILES or text in (MANIFEST, BACKUP_INFO)
    ):
        return False  # the store goes through the online backup API; the rest is ours
    return not any(_work_in_progress(part) for part in relative.parts)


def _work_in_progress(name: str) -> bool:
    return (
        name.startswith((".tmp-", ".staging-"))
        or name.endswith((".tmp", ".lock"))
        or name == "__pycache__"
    )


def render_manifest(hashes: Mapping[str, str]) -> str:
    """``sha256sum`` format, sorted by path: ``<hex>  <path>`` per line."""
    return "".join(f"{hashes[path]}  {path}\n" for path in sorted(hashes))


def parse_manifest(text: str, origin: str = MANIFEST) -> dict[str, str]:
    """Path -> SHA-256 from a manifest; BackupDamaged names the first bad line."""
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, path = line.partition("  ")
        bad_digest = len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)
        pure = PurePosixPath(path)
        if not sep or bad_digest or pure.is_absolute() or ".." in pure.parts or not path:
            raise BackupDamaged(f"{origin} line {number} is not '<sha256>  <relative path>'")
        if path in hashes:
            raise BackupDamaged(f"{origin} line {number} lists {path} twice")
        hashes[path] = digest
    return hashes


def backup_home(
    home: DataHome, dest: Path, *, progress: Progress | None = None, actor: str = "backup"
) -> BackupReport:
    """Snapshot ``home`` into the new (or empty) folder ``dest``; safe while it runs."""
    say = progress or (lambda _line: None)
    started = time.monotonic()
    home.require_initialised()
    dest = Path(dest).absolute()
    _check_dest(home, dest)
    partial = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    partial.mkdir(parents=True)
    try:
        say(f"snapshot of the store {home.db_path} (SQLite online backup)")
        schema_version = _snapshot_store(home.db_path, partial / _STORE)
        hashes = {_STORE: _sha256(partial / _STORE)}
        total = (partial / _STORE).stat().st_size
        files = sorted(_files_to_copy(home.root))
        say(f"copying {len(files):,} files")
        for relative in files:
            copied = _copy_hashed(home.root / relative, partial / relative)
            if copied is not None:  # None: removed since it was listed (a temp file)
                hashes[relative.as_posix()], size = copied
                total += size
        (partial / MANIFEST).write_text(render_manifest(hashes), encoding="utf-8")
        info = _backup_info(home, schema_version, len(hashes), total)
        (partial / BACKUP_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty, checked above
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _audit(home.db_path, actor, "home.backup", str(dest), {"files": len(hashes), "bytes": total})
    say(f"backup written to {dest}: {len(hashes):,} files, {total / 1e6:,.1f} MB")
    return BackupReport(
        dest, len(hashes), total, schema_version, SKIPPED, round(time.monotonic() - started, 3)
    )


def _check_dest(home: DataHome, dest: Path) -> None:
    root = home.root.resolve()
    if dest.resolve().is_relative_to(root):
        raise HomeError(f"the backup folder {dest} is inside the data home {root}; choose one "
                        "outside it, best on another disk")  # fmt: skip
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise HomeError(f"{dest} already exists and is not an empty folder; "
                        "back up into a new folder")  # fmt: skip


def _files_to_copy(root: Path) -> Iterator[PurePosixPath]:
    for folder, dirs, names in os.walk(root):
        here = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if is_backed_up(here / d / "x"))
        for name in names:
            relative = here / name
            if is_backed_up(relative) and not (Path(folder) / name).is_symlink():
                yield relative


def _snapshot_store(db_path: Path, target: Path) -> int:
    """Copy the store in one read transaction; the copy is one self-contained file."""
    try:
        source = sqlite3.connect(str(db_path))
        copy = sqlite3.connect(str(target))
        try:
            source.execute("PRAGMA busy_timeout = 10000")
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
            version = _schema_version(copy)
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as exc:
        raise HomeError(f"cannot snapshot the store {db_path}: {exc}") from exc
    if check != "ok":
        raise HomeError(f"the store {db_path} fails SQLite's check ({check}); not backed up")
    return version


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT max(number) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)


def _copy_hashed(src: Path, dst: Path) -> tuple[str, int] | None:
    """Copy one file, hashing what was written; None if it vanished meanwhile."""
    digest, size = hashlib.sha256(), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with src.open("rb") as reader, dst.open("xb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)
    except FileNotFoundError:
        if dst.exists():
            dst.unlink()
        return None
    with contextlib.suppress(OSError):
        shutil.copystat(src, dst)
    return digest.hexdigest(), size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _backup_info(home: DataHome, schema_version: int, files: int, total: int) -> dict:
    from appliance import __version__
    from appliance.store.db import now_iso

    return {
        "format": 1, "created_at": now_iso(), "home": str(home.root),
        "appliance_version": __version__, "schema_version": schema_version,
        "files": files, "bytes": total, "skipped": list(SKIPPED),
    }  # fmt: skip


def _audit(db_path: Path, actor: str, action: str, subject: str, details: dict) -> None:
    from appliance import audit
    from appliance.store.db import connect

    db = connect(db_path)
    try:
        audit.record(db, actor, action, subject, details)
    finally:
        db.close()


def restore_home(
    src: Path, home: DataHome, *, force: bool = False, progress: Progress | None = None,
    actor: str = "restore",
) -> RestoreReport:  # fmt: skip
    """Bring back the backup in ``src`` as ``home``, every byte checked first.

    The files are checked while they are copied into a staging folder beside the home;
    only a complete, verified copy replaces it. A non-empty home is replaced only with
    ``force``, and is then kept aside (``RestoreReport.replaced``), never deleted.
    """
    say = progress or (lambda _line: None)
    src, root = Path(src).absolute(), home.root.absolute()
    hashes, info = _read_backup(src)
    occupied = root.exists() and (not root.is_dir() or any(root.iterdir()))
    if occupied and not force:
        raise HomeError(f"{root} is not empty; restore into a new folder, or pass --force "
                        "to replace it (the current home is kept aside, not deleted)")  # fmt: skip
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.restore-{secrets.token_hex(4)}"
    say(f"checking {len(hashes):,} files against {src / MANIFEST} while copying")
    try:
        total = _copy_checked(src, staging, hashes)
        for name in SUBDIRS:
            (staging / name).mkdir(exist_ok=True)
        schema_version = _finish_store(staging / _STORE, actor, src, info)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replaced = None
    if occupied:
        replaced = root.parent / f"{root.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
        root.rename(replaced)
    elif root.exists():
        root.rmdir()
    staging.rename(root)
    say(f"restored {len(hashes):,} files into {root}"
        + (f"; the previous home is kept at {replaced}" if replaced else ""))  # fmt: skip
    return RestoreReport(
        root, len(hashes), total, schema_version, str(info.get("created_at", "")), replaced
    )


def _read_backup(src: Path) -> tuple[dict[str, str], dict]:
    """The manifest and info of a backup folder, its file set checked against both."""
    try:
        hashes = parse_manifest((src / MANIFEST).read_text(encoding="utf-8"), str(src / MANIFEST))
        info = json.loads((src / BACKUP_INFO).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupDamaged(f"{src} is not an appliance backup: {exc.filename} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupDamaged(f"cannot read the backup in {src}: {exc}") from exc
    present = {
        Path(folder, name).relative_to(src).as_posix()
        for folder, _dirs, names in os.walk(src)
        for name in names
    } - {MANIFEST, BACKUP_INFO}
    if missing := sorted(set(hashes) - present):
        raise BackupDamaged(f"backup {src}: {missing[0]} is listed in {MANIFEST} but missing "
                            f"({len(missing)} missing in all); nothing was restored")  # fmt: skip
    if extra := sorted(present - set(hashes)):
        raise BackupDamaged(f"backup {src}: {extra[0]} is not in {MANIFEST} "
                            f"({len(extra)} unlisted in all); nothing was restored")  # fmt: skip
    if _STORE not in hashes:
        raise BackupDamaged(f"backup {src} holds no {_STORE}; nothing was restored")
    return hashes, info


def _copy_checked(src: Path, staging: Path, hashes: Mapping[str, str]) -> int:
    total = 0
    for relative in sorted(hashes):
        copied = _copy_hashed(src / relative, staging / relative)
        if copied is None or copied[0] != hashes[relative]:
            found = copied[0][:12] + "…" if copied else "nothing"
            raise BackupDamaged(
                f"backup {src}: {relative} has SHA-256 {found}, but {MANIFEST} says "
                f"{hashes[relative][:12]}…; the backup was changed or damaged, "
                "nothing was restored"
            )
        total += copied[1]
    return total


def _finish_store(db_path: Path, actor: str, src: Path, info: Mapping) -> int:
    """Migrate the restored store to this version's schema and audit the restore."""
    from appliance import audit
    from appliance.store.db import connect, schema_version

    db = connect(db_path)
    try:
        audit.record(db, actor, "home.restore", str(src), {
            "backup_created_at": info.get("created_at"), "files": info.get("files"),
        })  # fmt: skip
        return schema_version(db)
    finally:
        db.close()
