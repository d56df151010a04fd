"""Whether ``appliance up`` is running on a home: it holds an exclusive ``flock`` on
``logs/up.lock``, which holds its pid, start time and ports as JSON. The kernel drops
the lock when the process dies, so a stale file never looks like a running service.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from appliance.errors import HomeError
from appliance.home import DataHome

__all__ = ["ServiceLock", "running_service"]


def _path(home: DataHome) -> Path:
    return home.dir("logs") / "up.lock"


class ServiceLock:
    """Held by the one ``appliance up`` of a home for as long as it runs."""

    def __init__(self, home: DataHome) -> None:
        self.path = _path(home)
        self._fd: int | None = None

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock and write ``info``; HomeError naming the running one if taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            other = _read(self.path) or {}
            raise HomeError(
                f"appliance up is already running on this home (pid {other.get('pid', '?')}, "
                f"since {other.get('started_at', '?')}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode("utf-8"))
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def running_service(home: DataHome) -> dict[str, Any] | None:
    """What the running ``appliance up`` wrote (pid, started_at, host, ports), or None."""
    path = _path(home)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(path) or {}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
