"""Settings, read from the environment once, at the edge, and passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HOME_ENV", "Settings"]

HOME_ENV = "APPLIANCE_HOME"
DEFAULT_HOME = Path("~/.appliance")


@dataclass(frozen=True)
class Settings:
    """What the whole appliance needs to know before it touches anything."""

    home: Path
    """The data home: every piece of state lives under this one directory."""

    actor: str = "cli"
    """Who is acting, recorded in the audit log (a user name or an API key's id)."""

    def __post_init__(self) -> None:
        if not str(self.home).strip():
            raise ValueError("home must be a directory path, got an empty string")
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())

    @classmethod
    def from_environ(
        cls, home: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from an explicit ``--home`` or, failing that, ``APPLIANCE_HOME``."""
        env = os.environ if environ is None else environ
        chosen = home if home is not None else env.get(HOME_ENV) or DEFAULT_HOME
        actor = env.get("APPLIANCE_ACTOR") or env.get("USER") or "cli"
        return cls(home=Path(chosen), actor=actor)
