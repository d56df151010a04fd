"""The ``housekeeping`` job: retention by policy, VACUUM/ANALYZE, a backup of the home.

Parameters (``[jobs.housekeeping] params``): ``quarantine_days`` (rejected rows and
files older than this are deleted, 0 keeps them), ``job_log_days`` (the same for the
per-run logs in ``logs/jobs/``), ``backup_dir`` (where backups go; relative to the
folder holding the home; ``""`` turns backups off) and ``backup_keep`` (how many of
this home's backups to keep there).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from appliance import audit
from appliance.errors import SchemaError
from scheduler.job import JobContext, JobResult

__all__ = ["backup_folders", "expired_files", "run"]

_DAY = 86400.0


def run(ctx: JobContext) -> JobResult:
    artifacts: list[str] = []
    quarantine_days = ctx.param("quarantine_days", int, 180)
    log_days = ctx.param("job_log_days", int, 90)
    backup_dir = ctx.param("backup_dir", str, "")
    keep = ctx.param("backup_keep", int, 7)
    if min(quarantine_days, log_days) < 0 or keep < 1:
        raise SchemaError(
            "appliance.toml: [jobs.housekeeping] quarantine_days and job_log_days "
            "must be 0 or more, backup_keep at least 1"
        )
    quarantined = _expire(ctx, ctx.home.dir("quarantine"), quarantine_days, "quarantine.expire")
    logs = _expire(ctx, ctx.home.dir("logs") / "jobs", log_days, None, suffix=".log")
    ctx.progress("VACUUM and ANALYZE of the store")
    ctx.db.execute("VACUUM")
    ctx.db.execute("ANALYZE")
    parts = [
        f"{quarantined} quarantine file(s) and {logs} job log(s) past retention deleted",
        "store vacuumed and analysed",
    ]
    if backup_dir:
        dest, pruned = _backup(ctx, Path(backup_dir), keep)
        artifacts.append(str(dest))
        parts.append(f"backup in {dest}" + (f" ({pruned} older one(s) removed)" if pruned else ""))
    else:
        parts.append("no backup (backup_dir is empty)")
    return JobResult(rows=quarantined + logs, artifacts=artifacts, summary="; ".join(parts))


def expired_files(folder: Path, older_than: float, suffix: str = "") -> Iterator[Path]:
    """Files under ``folder`` last modified before the POSIX time ``older_than``."""
    if not folder.is_dir():
        return
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(parent, name)
            fresh = path.is_symlink() or path.stat().st_mtime >= older_than
            if name.endswith(suffix) and not fresh:
                yield path


def _expire(ctx: JobContext, folder: Path, days: int, action: str | None, suffix: str = "") -> int:
    if days == 0:
        return 0
    cutoff = ctx.now.timestamp() - days * _DAY
    gone = sorted(expired_files(folder, cutoff, suffix))
    for path in gone:
        path.unlink()
    _remove_empty_dirs(folder)
    if gone and action:
        root = ctx.home.root
        audit.record(
            ctx.db,
            ctx.actor,
            action,
            folder.name,
            {
                "older_than_days": days,
                "files": len(gone),
                "first": [str(p.relative_to(root)) for p in gone[:20]],
            },
        )
    if gone:
        ctx.progress(f"{len(gone)} file(s) in {folder.name}/ older than {days} days deleted")
    return len(gone)


def _remove_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for parent, dirs, names in os.walk(folder, topdown=False):
        path = Path(parent)
        if path != folder and not dirs and not names:
            path.rmdir()


def backup_folders(where: Path, home_name: str) -> list[Path]:
    """This home's backups in ``where`` (folders ``<home name>-<UTC stamp>`` holding a
    BACKUP.json), oldest first. Nothing else there is ever touched."""
    from appliance.backup import BACKUP_INFO

    if not where.is_dir():
        return []
    found = [
        p
        for p in where.iterdir()
        if p.is_dir() and p.name.startswith(f"{home_name}-") and (p / BACKUP_INFO).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def _backup(ctx: JobContext, backup_dir: Path, keep: int) -> tuple[Path, int]:
    from appliance.backup import backup_home

    where = backup_dir if backup_dir.is_absolute() else ctx.home.root.parent / backup_dir
    where.mkdir(parents=True, exist_ok=True)
    dest = where / f"{ctx.home.root.name}-{_stamp(ctx.now)}"
    for n in range(2, 100):  # two backups within one second: -2, -3 (they sort after)
        if not dest.exists():
            break
        dest = where / f"{ctx.home.root.name}-{_stamp(ctx.now)}-{n}"
    backup_home(ctx.home, dest, progress=ctx.progress, actor=ctx.actor)
    older = backup_folders(where, ctx.home.root.name)[:-keep]
    for folder in older:
        shutil.rmtree(folder)
    return dest, len(older)


def _stamp(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
