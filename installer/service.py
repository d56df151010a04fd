"""The systemd unit and the service's environment file: rendered (pure), then written.

The unit is always written under the prefix; only ``--enable-service`` copies it into
systemd's folder and enables it, which needs root.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from installer.errors import InstallFailed

__all__ = ["SERVICE", "enable_service", "render_template"]

SERVICE = "appliance.service"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``@KEY@``; a placeholder left unfilled is an error, not a surprise."""
    text = template
    for key, value in values.items():
        if "\n" in value or not value:
            raise InstallFailed(f"{key} must be one non-empty line, got {value!r}")
        text = text.replace(f"@{key}@", value)
    if leftover := _PLACEHOLDER.search(text):
        raise InstallFailed(f"the template still has a placeholder: {leftover.group(0)}")
    return text


def enable_service(unit: Path, unit_dir: Path, *, restart: bool) -> Path:
    """Copy the unit into ``unit_dir`` and enable it (start it, or restart on upgrade)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise InstallFailed("--enable-service: systemctl not found; this machine does not run "
                            f"systemd. The unit is at {unit} for your service manager")  # fmt: skip
    target = unit_dir / SERVICE
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(unit, target)
    except OSError as exc:
        raise InstallFailed(f"--enable-service: cannot write {target} ({exc.strerror}); "
                            "run as root, or leave the option out") from exc  # fmt: skip
    steps = [["daemon-reload"], ["enable", SERVICE], ["restart" if restart else "start", SERVICE]]
    for step in steps:
        done = subprocess.run([systemctl, *step], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise InstallFailed(f"systemctl {' '.join(step)} failed: "
                                f"{(done.stderr or done.stdout).strip()[:300]}")  # fmt: skip
    return target
