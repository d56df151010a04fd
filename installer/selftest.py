"""Running the newly installed version before it is made current.

Each check runs a real command of the new virtual environment: ``appliance
--version``, the smoke test (``python -m installer.smoke``: pyarrow, XGBoost, the
hazard model, the C compiler), ``appliance init`` on the home (layout and store
migrations) and, where this version has it, ``appliance doctor``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from installer.errors import SelfTestFailed

__all__ = ["SmokeResult", "child_env", "has_command", "run_checked", "smoke"]

_TIMEOUT_S = 600


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the new version's commands: no outside Python or pip settings."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "APPLIANCE_HOME")
    env = {k: v for k, v in environ.items() if k not in dropped and not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip reads no pip.conf: no mirror, no find-links
    return env


def run_checked(cmd: Sequence[str], env: Mapping[str, str], what: str) -> str:
    """Run ``cmd``; its stdout, or SelfTestFailed quoting the end of its output."""
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, env=dict(env), timeout=_TIMEOUT_S,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SelfTestFailed(f"self-test: {what} could not run: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr + done.stdout).strip().splitlines()[-4:])
        raise SelfTestFailed(f"self-test: {what} failed (exit {done.returncode}): {tail}")
    return done.stdout


def has_command(appliance: Path, name: str, env: Mapping[str, str]) -> bool:
    """Whether this version's ``appliance`` has the subcommand ``name``."""
    done = subprocess.run(
        [str(appliance), name, "--help"], capture_output=True, text=True, env=dict(env),
        timeout=120, check=False,
    )  # fmt: skip
    return done.returncode == 0


@dataclass(frozen=True)
class SmokeResult:
    libraries: dict[str, str]
    hazard_model: str
    compiler: str | None
    compiler_problem: str | None


def smoke(python: Path, env: Mapping[str, str]) -> SmokeResult:
    out = run_checked([str(python), "-m", "installer.smoke"], env, "the smoke test")
    try:
        data = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise SelfTestFailed(
            f"self-test: the smoke test printed no result: {out[-200:]!r}"
        ) from exc
    return SmokeResult(
        {k: data[k] for k in ("numpy", "pyarrow", "xgboost")},
        data["hazard"]["model"], data["compiler"], data["compiler_problem"],
    )  # fmt: skip
