"""A small demo lake built once per test worker, copied for each test that writes to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlite_utils import Database

from appliance.home import DataHome
from appliance.store.db import connect

DEMO_ROWS = 2500


def build_demo_lake(root: Path, rows: int = DEMO_ROWS) -> DataHome:
    """Lay out a home, generate the demo files and ingest them all (real ingest)."""
    from appliance.demo import generate
    from appliance.ingest.run import ingest_file
    from appliance.ingest.sources import all_sources, match_source

    home = DataHome(root)
    home.layout()
    db = connect(home.db_path)
    files = generate(home.dir("inbox"), rows=rows, seed=7)
    schemas = all_sources(home)
    for path in files:
        if path.suffix != ".csv":
            continue
        schema = match_source(schemas, path.name)
        if schema is not None:
            ingest_file(home, db, path, schema, actor="test")
    _classify_tiles(home, db)
    db.close()
    return home


def train_credit(home: DataHome, *, promote: bool = True) -> int:
    """Train (and compile) credit_default on a demo lake; promote it unless told not to.
    Returns the version."""
    from appliance import registry
    from appliance.training.run import train_usecase
    from appliance.usecase.locate import locate_spec

    db = connect(home.db_path)
    try:
        outcome = train_usecase(home, db, locate_spec(home, "credit_default"), actor="test",
                                progress=lambda _line: None)  # fmt: skip
        version = outcome.version.version
        if promote:
            registry.promote(db, "credit_default", version, actor="test", reason="test lake")
        return version
    finally:
        db.close()


def copy_home(template: DataHome, root: Path) -> DataHome:
    shutil.copytree(template.root, root)
    return DataHome(root)


def _classify_tiles(home: DataHome, db: Database) -> None:
    """The imagery job on the demo tiles, so the credit spec's hazard features have data."""
    from datetime import date

    from imagery_edge.device import open_classifier
    from imagery_edge.job import run_imagery
    from imagery_edge.model_info import load_model_info

    info = load_model_info()
    choice = open_classifier("cpu", 1, 256, info)
    run_imagery(home, db, choice.classifier, info, today=date(2026, 1, 1), actor="test")
