"""Reading a version's artifacts back, checked against the hashes taken at registration.

Boosters load only from XGBoost's own JSON/UBJ formats, never from pickles. The bytes
are read once, hashed, and the same bytes are loaded, so nothing can change in between.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import ApplianceError, ArtifactTampered, NotFound
from appliance.home import DataHome
from appliance.registry.records import BOOSTER_FORMATS, ModelVersion

if TYPE_CHECKING:
    import xgboost

__all__ = ["booster_bytes", "card_file", "load_booster", "verified_bytes"]


def booster_bytes(home: DataHome, mv: ModelVersion) -> bytes:
    """The booster file's bytes, after checking them against the registered SHA-256."""
    path = home.inside(mv.booster_path)
    suffix = Path(mv.booster_path).suffix.lstrip(".")
    if mv.booster_format not in BOOSTER_FORMATS or suffix != mv.booster_format:
        raise ArtifactTampered(
            f"{mv.subject}: booster {mv.booster_path} is not a .ubj or .json XGBoost model; "
            "only those formats are ever loaded"
        )
    return verified_bytes(path, mv.booster_sha256, f"{mv.subject}: booster")


def verified_bytes(path: Path, sha256: str, what: str) -> bytes:
    """The file's bytes, read once and checked against the SHA-256 registered for it;
    ``what`` names it in errors ("credit_default/3: booster")."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(
            f"{what} {path} is missing; restore the data home from a backup or retrain"
        ) from exc
    except OSError as exc:
        raise ApplianceError(f"{what} {path} cannot be read: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ArtifactTampered(
            f"{what} {path} has SHA-256 {digest[:12]}…, but {sha256[:12]}… was registered; "
            "it was changed after registration and will not be loaded. Restore it from a "
            "backup or retrain"
        )
    return data


def load_booster(home: DataHome, mv: ModelVersion) -> xgboost.Booster:
    """The version's booster, loaded from verified bytes."""
    data = booster_bytes(home, mv)
    try:
        import xgboost
    except ImportError as exc:  # pragma: no cover - xgboost is a core dependency
        raise ApplianceError("xgboost is not installed: pip install xgboost-cpu") from exc
    try:
        return xgboost.Booster(model_file=bytearray(data))
    except xgboost.core.XGBoostError as exc:
        raise ArtifactTampered(f"{mv.subject}: booster does not load: {exc}") from exc


def card_file(home: DataHome, mv: ModelVersion) -> Path | None:
    """Where the model card is, or None when the version has none."""
    return home.inside(mv.card_path) if mv.card_path else None
