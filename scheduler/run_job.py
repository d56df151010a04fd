"""``python -m scheduler.run_job``: one attempt of a heavy job, in a worker process.

Started by the runner with the job's lock descriptor inherited (so the lock stays held
while this process lives, even if the runner dies), stdout and stderr going to the
run's log file. It records how the run ended itself; the exit status tells the runner
whether a failure is worth another attempt.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {"ok": 0, "failed": 1, "permanent": 2, "interrupted": 3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler.run_job", description=__doc__)
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--job", required=True)
    parser.add_argument("--run-id", required=True, type=int)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--target", required=True, help="package.module:function")
    parser.add_argument("--params", default="{}", help="the job's params as JSON")
    parser.add_argument("--started", required=True, help="ISO time the runner started it")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s: %(message)s")

    from appliance.home import DataHome
    from scheduler.catalogue import JobKind
    from scheduler.outcome import run_and_record

    started = datetime.fromisoformat(args.started)
    begun = time.monotonic()

    def now() -> datetime:  # the runner's clock, moved on by the time spent here
        return started + timedelta(seconds=time.monotonic() - begun)

    kind = JobKind(args.kind, args.target, heavy=True, description="")
    attempt = run_and_record(
        DataHome(args.home),
        args.run_id,
        kind,
        json.loads(args.params),
        started,
        now,
        sys.stdout,
        args.job,
    )
    if attempt.status == "failed" and attempt.permanent:
        return EXIT_CODES["permanent"]
    return EXIT_CODES[attempt.status]


if __name__ == "__main__":
    sys.exit(main())
