"""One ingest at a time per dataset, across processes (CLI, scheduler, API).

An exclusive ``flock`` on ``lake/<dataset>/.ingest.lock``: the kernel drops it when
its process dies, so a killed ingest never leaves the dataset locked.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from appliance.errors import IngestError
from appliance.home import DataHome

__all__ = ["dataset_lock"]

_POLL_S = 0.1


@contextmanager
def dataset_lock(home: DataHome, dataset: str, wait_s: float) -> Iterator[None]:
    """Hold the dataset's ingest lock, waiting up to ``wait_s`` seconds for it."""
    path = home.inside("lake", dataset, ".ingest.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IngestError(
                        f"another ingest of {dataset!r} is still running; "
                        "try again when it has finished"
                    ) from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
