"""`appliance models compile`: a registered version -> a parity-checked native library.

The booster is read from its verified bytes, the rows the trainer left beside it (a
training sample for branch annotation, the test set for parity) are passed on, and
the outcome, good or bad, is recorded on the version, where the compile gate and the
scorer loader read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.home import DataHome
from appliance.registry import booster_bytes, record_compile, resolve
from appliance.registry.records import ModelVersion

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["PARITY_FILES", "compile_version", "save_parity_rows"]

PARITY_FILES = {"test": "test_features.npy", "train": "train_sample.npy"}
"""Model inputs the trainer saves beside the booster: the test set (parity) and a
sample of training rows (branch annotation)."""

_MAX_ROWS = 20_000


def save_parity_rows(folder: Path, test: np.ndarray, train: np.ndarray, *, seed: int) -> None:
    """Write the rows a later compile checks against (at most 20,000 of each, float64)."""
    rng = np.random.default_rng(seed)
    for kind, rows in (("test", test), ("train", train)):
        if rows.shape[0] > _MAX_ROWS:
            rows = rows[np.sort(rng.choice(rows.shape[0], _MAX_ROWS, replace=False))]
        np.save(folder / PARITY_FILES[kind], np.ascontiguousarray(rows, dtype=np.float64))


def compile_version(
    home: DataHome,
    db: Database,
    model: str,
    ref: str,
    *,
    actor: str,
    progress: Callable[[str], None] = lambda _line: None,
    timeout_s: float = 900.0,
) -> tuple[ModelVersion, Any]:
    """Compile one version and record the result; returns the updated version and the
    ``CompileReport``. A missing compiler or a failed build is recorded, not raised."""
    import xgboost

    from compiled_models.compile import compile_model
    from compiled_models.forest import Forest

    mv = resolve(db, model, ref)
    folder = home.inside(mv.booster_path).parent
    booster = xgboost.Booster(model_file=bytearray(booster_bytes(home, mv)))
    model_json = bytes(booster.save_raw("json"))
    progress(f"compiling {mv.subject} ({booster.num_boosted_rounds()} trees)")
    report = compile_model(
        model_json, folder,
        test_rows=_rows(folder, "test"), train_rows=_rows(folder, "train"),
        thresholds=Forest.from_json(model_json).thresholds_by_feature(),
        categorical=_category_levels(mv.feature_schema),
        timeout_s=timeout_s, progress=progress,
    )  # fmt: skip
    record = report.to_dict()
    if record.get("library"):
        record["library"] = f"{Path(mv.booster_path).parent.as_posix()}/{record['library']}"
    return record_compile(db, mv.model, mv.version, record, actor=actor), report


def _rows(folder: Path, kind: str) -> np.ndarray | None:
    path = folder / PARITY_FILES[kind]
    if not path.is_file():
        return None
    return np.load(path, allow_pickle=False)


def _category_levels(schema: Any) -> Mapping[int, int]:
    """Categorical input position -> number of levels, from the registered feature schema."""
    levels: dict[int, int] = {}
    for entry in schema or []:
        if isinstance(entry, Mapping) and entry.get("type") == "categorical":
            levels[int(entry["position"])] = len(entry.get("categories") or [])
    return levels
