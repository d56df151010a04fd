"""Finding a use-case spec by name in the home, or by path."""

from __future__ import annotations

from pathlib import Path

from appliance.errors import NotFound
from appliance.home import DataHome
from appliance.usecase.parse import load_spec
from appliance.usecase.spec import UseCaseSpec

__all__ = ["list_specs", "locate_spec"]


def list_specs(home: DataHome) -> list[Path]:
    return sorted(home.dir("usecases").glob("*.toml"))


def locate_spec(home: DataHome, name_or_path: str) -> UseCaseSpec:
    """``NAME`` from the home's ``usecases/``, or a path to a spec ``.toml``."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return load_spec(path)
    candidate = home.dir("usecases") / f"{name_or_path}.toml"
    if candidate.exists():
        return load_spec(candidate)
    known = ", ".join(p.stem for p in list_specs(home)) or "none"
    raise NotFound(f"no use case {name_or_path!r}: not a spec file, not in usecases/ ({known})")
