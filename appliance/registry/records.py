"""Registered models and their versions: the entities, registration and look-ups.

A training run writes its artifacts into ``models/<model>/.staging-<token>/`` (see
``make_staging``) and hands them to ``register``. In one transaction, registration takes
the next version number (max + 1 of committed versions, so numbers only grow), inserts
the row, writes the audit entry and, last, renames the staging directory to
``models/<model>/<version>/``. A failure anywhere rolls the row back and leaves the
staging directory where it was; a committed row always has its directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import audit
from appliance.errors import NotFound, SchemaError
from appliance.home import DataHome, safe_name
from appliance.lake import file_sha256
from appliance.registry import _staging
from appliance.registry._encoding import decode, encode
from appliance.store.db import now_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = [
    "ALIASES",
    "BOOSTER_FORMATS",
    "COMPILE_STATUSES",
    "Model",
    "ModelVersion",
    "NewModelVersion",
    "aliases",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "make_staging",
    "record_compile",
    "register",
    "resolve",
]

ALIASES = ("production", "challenger", "shadow")
BOOSTER_FORMATS = ("ubj", "json")
COMPILE_STATUSES = ("ok", "failed", "unavailable")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JSON_FIELDS = ("params", "metrics", "feature_schema", "datasets", "spec", "reference")
_COLUMNS = (
    "model, version, created_at, trained_at, duration_s, booster_path, booster_sha256,"
    " booster_format, params, metrics, feature_schema, datasets, spec, spec_sha256,"
    " code_version, seed, reference, card_path, compile, status"
)

make_staging = _staging.make_staging


@dataclass(frozen=True)
class Model:
    name: str
    usecase: str
    description: str
    created_at: str


@dataclass(frozen=True)
class NewModelVersion:
    """What a training run hands to ``register``; the registry adds the number and hashes."""

    trained_at: str
    """When training finished, ISO-8601."""
    duration_s: float
    """Wall-clock seconds the training run took."""
    params: Mapping[str, Any]
    """The booster's hyper-parameters (and anything else that shaped it)."""
    metrics: Mapping[str, Any]
    """The contents of metrics.json; the promotion gates read it (see ``gates``)."""
    feature_schema: Any
    """The feature pipeline's input and output columns (any JSON value)."""
    datasets: Sequence[Mapping[str, Any]]
    """Lineage: one mapping per dataset with at least ``name`` and ``version``."""
    spec: Mapping[str, Any]
    """The use-case spec the run was trained from, as parsed."""
    spec_sha256: str
    """SHA-256 of the spec file's bytes."""
    code_version: str
    """The appliance version (or commit) that trained it."""
    seed: int
    """The random seed; with the spec and data it reproduces the run."""
    reference: Mapping[str, Any]
    """Monitoring reference statistics (feature and score distributions)."""
    booster_file: str = "model.ubj"
    """The booster's file name inside the staging directory; ``.ubj`` or ``.json``."""
    card_file: str | None = "model_card.html"
    """The model card's file name inside the staging directory, or None."""

    def __post_init__(self) -> None:
        _check_file_name("booster_file", self.booster_file)
        if self.booster_format not in BOOSTER_FORMATS:
            raise SchemaError(f"booster_file {self.booster_file!r} must end in .ubj or .json")
        if self.card_file is not None:
            _check_file_name("card_file", self.card_file)
        try:
            datetime.fromisoformat(self.trained_at)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"trained_at {self.trained_at!r} is not ISO-8601") from exc
        if not math.isfinite(self.duration_s) or self.duration_s < 0:
            raise SchemaError(f"duration_s must be a finite number >= 0, got {self.duration_s}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SchemaError(f"seed must be an integer, got {self.seed!r}")
        if not _SHA256.fullmatch(self.spec_sha256):
            raise SchemaError("spec_sha256 must be 64 lower-case hex digits")
        if not isinstance(self.metrics, Mapping):
            raise SchemaError("metrics must be a mapping (the contents of metrics.json)")
        if isinstance(self.datasets, str | bytes) or not all(
            isinstance(d, Mapping) and d.get("name") and d.get("version") for d in self.datasets
        ):
            raise SchemaError("datasets must be a list of mappings, each with a name and version")

    @property
    def booster_format(self) -> str:
        return Path(self.booster_file).suffix.lstrip(".")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version; paths are relative to the data home, JSON fields decoded."""

    model: str
    version: int
    created_at: str
    trained_at: str
    duration_s: float
    booster_path: str
    booster_sha256: str
    booster_format: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    feature_schema: Any
    datasets: Sequence[Mapping[str, Any]]
    spec: Mapping[str, Any]
    spec_sha256: str
    code_version: str
    seed: int
    reference: Mapping[str, Any]
    card_path: str | None
    compile: Mapping[str, Any] | None
    status: str

    @property
    def subject(self) -> str:
        """How the audit log names this version: ``model/version``."""
        return f"{self.model}/{self.version}"

    def key_metric(self) -> tuple[str, float | None]:
        """The metric the run optimised and its test value (None where absent)."""
        name = str(self.metrics.get("optimise") or "roc_auc")
        test = self.metrics.get("test")
        value = test.get(name) if isinstance(test, Mapping) else None
        return name, float(value) if isinstance(value, int | float) else None


def register(
    db: Database,
    home: DataHome,
    model: str,
    usecase: str,
    description: str,
    staging_dir: Path,
    new: NewModelVersion,
    *,
    actor: str,
) -> ModelVersion:
    """Record ``new`` as the next version of ``model`` and move its artifacts into place."""
    safe_name(model, "model name")
    wanted = [new.booster_file] + ([new.card_file] if new.card_file else [])
    staging = _staging.check_staging(home, model, Path(staging_dir), wanted)
    booster_sha256 = file_sha256(staging / new.booster_file)
    encoded = {name: encode(name, getattr(new, name)) for name in _JSON_FIELDS}
    moved: Path | None = None
    try:
        with db.atomic():
            _ensure_model(db, model, usecase, description)
            version = _next_version(db, model)
            folder = f"models/{model}/{version}"
            card = f"{folder}/{new.card_file}" if new.card_file else None
            db.execute(
                f"INSERT INTO model_versions ({_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'registered')",
                [model, version, now_iso(), new.trained_at, float(new.duration_s),
                 f"{folder}/{new.booster_file}", booster_sha256, new.booster_format,
                 encoded["params"], encoded["metrics"], encoded["feature_schema"],
                 encoded["datasets"], encoded["spec"], new.spec_sha256, new.code_version,
                 new.seed, encoded["reference"], card],
            )  # fmt: skip
            audit.record(db, actor, "model.register", f"{model}/{version}", {
                "usecase": usecase, "booster_sha256": booster_sha256,
                "spec_sha256": new.spec_sha256, "code_version": new.code_version,
                "datasets": [{"name": d["name"], "version": d["version"]} for d in new.datasets],
            })  # fmt: skip
            target = staging.parent / str(version)
            _staging.move_into_place(staging, target)  # last: only COMMIT can fail after it
            moved = target
            _staging.sync_dir(staging.parent)
    except BaseException:
        if moved is not None:
            _staging.move_back(moved, staging)
        raise
    return get_version(db, model, version)


def _ensure_model(db: Database, model: str, usecase: str, description: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO models (name, usecase, description, created_at) VALUES (?, ?, ?, ?)",
        [model, usecase, description, now_iso()],
    )
    owner = db.execute("SELECT usecase FROM models WHERE name = ?", [model]).fetchone()[0]
    if owner != usecase:
        raise SchemaError(
            f"model {model!r} belongs to use case {owner!r}, not {usecase!r}; "
            "give the new use case's model its own name"
        )


def _next_version(db: Database, model: str) -> int:
    row = db.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE model = ?", [model]
    ).fetchone()
    return int(row[0])


def _check_file_name(field: str, name: str) -> None:
    if not name or Path(name).name != name or name in {".", ".."}:
        raise SchemaError(f"{field} {name!r} must be a plain file name inside the staging dir")


def _from_row(row: Sequence[Any]) -> ModelVersion:
    names = [name.strip() for name in _COLUMNS.split(",")]
    values = {
        name: decode(value) if name in (*_JSON_FIELDS, "compile") else value
        for name, value in zip(names, row, strict=True)
    }
    return ModelVersion(**values)


def record_compile(
    db: Database, model: str, version: int, result: Mapping[str, Any], *, actor: str
) -> ModelVersion:
    """Attach a compile result to a version; the compile gate and the scorer loader read it.

    ``status`` is ``ok`` (a library that matches the booster), ``failed`` (libraries were
    built but none matches: blocks promotion) or ``unavailable`` (no compiler or a build
    error: XGBoost serves); ``reason`` says why when not ok.
    """
    if result.get("status") not in COMPILE_STATUSES:
        raise SchemaError(
            f"compile status must be one of {', '.join(COMPILE_STATUSES)}, "
            f"got {result.get('status')!r}"
        )
    body = encode("compile", dict(result))
    with db.atomic():
        get_version(db, model, version)
        db.execute(
            "UPDATE model_versions SET compile = ? WHERE model = ? AND version = ?",
            [body, model, version],
        )
        audit.record(db, actor, "model.compile", f"{model}/{version}", dict(result))
    return get_version(db, model, version)


def get_model(db: Database, model: str) -> Model:
    row = db.execute(
        "SELECT name, usecase, description, created_at FROM models WHERE name = ?", [model]
    ).fetchone()
    if row is None:
        known = [r[0] for r in db.execute("SELECT name FROM models ORDER BY name")]
        raise NotFound(
            f"no model named {model!r}; known models: {', '.join(known) or 'none yet'} "
            "(train one with `appliance train USECASE`)"
        )
    return Model(*row)


def list_models(db: Database) -> list[Model]:
    rows = db.execute("SELECT name, usecase, description, created_at FROM models ORDER BY name")
    return [Model(*row) for row in rows]


def list_versions(db: Database, model: str) -> list[ModelVersion]:
    """Every version of ``model``, oldest first; NotFound if the model is unknown."""
    get_model(db, model)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM model_versions WHERE model = ? ORDER BY version", [model]
    ).fetchall()
    return [_from_row(row) for row in rows]


def get_version(db: Database, model: str, version: int) -> ModelVersion:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM model_versions WHERE model = ? AND version = ?", [model, version]
    ).fetchone()
    if row is None:
        raise NotFound(f"model {model!r} has no version {version}; {_what_exists(db, model)}")
    return _from_row(row)


def aliases(db: Database, model: str) -> dict[str, int]:
    """Alias name -> version for ``model`` (only the aliases that are set)."""
    rows = db.execute(
        "SELECT alias, version FROM model_aliases WHERE model = ? ORDER BY alias", [model]
    )
    return {alias: int(version) for alias, version in rows}


def resolve(db: Database, model: str, ref: str) -> ModelVersion:
    """A version by number (``3`` or ``v3``), alias (``production``...) or ``latest``."""
    ref = ref.strip()
    number = ref[1:] if ref[:1] in {"v", "V"} else ref
    if number.isdigit():
        return get_version(db, model, int(number))
    if ref == "latest":
        versions = list_versions(db, model)
        if not versions:
            raise NotFound(f"model {model!r} has no versions yet")
        return versions[-1]
    if ref in ALIASES:
        version = aliases(db, model).get(ref)
        if version is None:
            raise NotFound(f"model {model!r} has no {ref} version; {_what_exists(db, model)}")
        return get_version(db, model, version)
    raise NotFound(
        f"{ref!r} is neither a version number nor an alias ({', '.join(ALIASES)}, latest); "
        f"{_what_exists(db, model)}"
    )


def _what_exists(db: Database, model: str) -> str:
    get_model(db, model)
    numbers = [str(r[0]) for r in db.execute(
        "SELECT version FROM model_versions WHERE model = ? ORDER BY version", [model]
    )]  # fmt: skip
    named = ", ".join(f"{a}={v}" for a, v in aliases(db, model).items()) or "none"
    return f"versions: {', '.join(numbers) or 'none'}; aliases: {named}"
