"""One run of a job at a time, across every process on the home.

An exclusive ``flock`` on ``logs/jobs/<job>.lock``. A worker process inherits the
descriptor, so the lock is held while either the runner or its worker lives, and the
kernel drops it when both are gone: a run whose lock is free cannot still be running.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from appliance.home import DataHome, safe_name

__all__ = ["JobLock", "job_log_dir"]


def job_log_dir(home: DataHome) -> Path:
    """``logs/jobs/``: the job locks and one log file per run."""
    folder = home.dir("logs") / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class JobLock:
    """The lock of one job; ``try_acquire`` never waits."""

    def __init__(self, home: DataHome, job: str) -> None:
        self.path = job_log_dir(home) / f"{safe_name(job, 'job name')}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def fd(self) -> int:
        """The locked descriptor (a worker process gets it through ``pass_fds``)."""
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not held")
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def is_free(self) -> bool:
        """True when nobody holds it (checked by taking and dropping it)."""
        if not self.try_acquire():
            return False
        self.release()
        return True
