"""The imagery job: classify, quarantine with reasons, ingest labels, rebuild the hazard table."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile
from sqlite_utils import Database

from appliance.demo.regions import REGION_IDS
from appliance.demo.tiles import render
from appliance.home import DataHome
from appliance.lake import read_dataset
from imagery_edge import (
    ModelInfo,
    TFLiteClassifier,
    load_model_info,
    region_month_table,
    run_imagery,
)
from imagery_edge.job import HAZARD_FILE

TODAY = date(2025, 1, 31)
KINDS = {"normal": 0, "flood": 1, "drought": 2, "cloud": 3}


@pytest.fixture(scope="module")
def model() -> tuple[TFLiteClassifier, ModelInfo]:
    info = load_model_info()
    return TFLiteClassifier(info.path("tflite_int8"), info.scaling), info


def tiles(kind: str, n: int = 1, region: str = "pantanal", seed: int = 0) -> np.ndarray:
    r = REGION_IDS.index(region)
    rng = np.random.default_rng(seed)
    return render(np.full(n, KINDS[kind]), np.full(n, r), np.full(n, 3), rng)


def geotiff(path: Path, pixels: np.ndarray) -> None:
    tifffile.imwrite(
        path, np.ascontiguousarray(np.moveaxis(pixels, -1, 0)), planarconfig="separate"
    )


def drop_examples(inbox: Path) -> dict[str, str]:
    """Good and bad files in ``inbox``; returns bad file -> expected reason fragment."""
    inbox.mkdir(parents=True, exist_ok=True)
    geotiff(inbox / "pantanal_2024-03-05.tif", tiles("flood")[0])
    np.save(inbox / "pantanal_2024-03-21.npy", tiles("normal", seed=1)[0])
    np.save(inbox / "pantanal_2024-04-05.npy", tiles("cloud", seed=2)[0])
    geotiff(inbox / "LC09_220079_20240913.tif", tiles("drought", region="cariri_cearense")[0])
    (inbox / "LC09_220079_20240913.json").write_text(
        json.dumps({"region": "cariri_cearense", "acquired": "2024-09-13"}), encoding="utf-8"
    )
    scene = np.concatenate([np.concatenate(list(tiles("normal", 3, seed=3)), axis=1)] * 2)
    scene[:10, :10] = 0  # no-data corner: the first tile is skipped
    geotiff(inbox / "norte_de_minas_2024-08-02.tif", scene)  # 128 x 192: six tiles
    np.save(inbox / "pantanal_2024-05-05.npy", tiles("normal")[0][..., :3])
    np.save(inbox / "pantanal_2024-05-06.npy", tiles("normal")[0][:32, :32])
    nan = tiles("normal")[0].astype(np.float32) * 2.75e-5 - 0.2
    nan[5, 5, :] = np.nan
    np.save(inbox / "pantanal_2024-05-07.npy", nan)
    (inbox / "pantanal_2024-05-08.tif").write_bytes(b"II*\x00garbage, not a TIFF")
    np.save(inbox / "atlantis_2024-05-09.npy", tiles("normal")[0])
    np.save(inbox / "pantanal_2025-06-01.npy", tiles("normal")[0])
    (inbox / "notes.txt").write_text("hello", encoding="utf-8")
    (inbox / ".partial.tif").write_bytes(b"being copied")
    return {
        "pantanal_2024-05-05.npy": "3 band(s), but the hazard model needs 6",
        "pantanal_2024-05-06.npy": "32x32 pixels, but the hazard model takes 64x64",
        "pantanal_2024-05-07.npy": "1 pixel(s) are NaN or infinite",
        "pantanal_2024-05-08.tif": "cannot read the file",
        "atlantis_2024-05-09.npy": "unknown region 'atlantis'",
        "pantanal_2025-06-01.npy": "acquired 2025-06-01 is in the future (today is 2025-01-31)",
        "notes.txt": "not a tile file",
    }


def test_classifies_quarantines_ingests_and_aggregates(
    home: DataHome, db: Database, model: tuple[TFLiteClassifier, ModelInfo]
) -> None:
    inbox = home.inside("inbox", "tiles")
    bad = drop_examples(inbox)
    result = run_imagery(home, db, *model, today=TODAY, chunk=2)  # several batches
    assert result.classified == 4 + 5 and result.scene_tiles_skipped == 1
    reasons = {r.file: r.reason for r in result.quarantined}
    assert set(reasons) == set(bad)
    for name, fragment in bad.items():
        assert fragment in reasons[name], name
    assert result.quarantine_dir is not None and result.done_dir is not None
    stored = json.loads((result.quarantine_dir / "reasons.json").read_text(encoding="utf-8"))
    assert {r["file"] for r in stored} == set(bad)
    assert {p.name for p in result.quarantine_dir.iterdir()} == {*bad, "reasons.json"}
    assert sorted(p.name for p in inbox.iterdir()) == [".partial.tif"]  # nothing else left
    assert (result.done_dir / "LC09_220079_20240913.json").is_file()

    labels = read_dataset(home, db, "tile_labels")
    assert labels.num_rows == 9 and result.ingest is not None
    assert result.ingest.run.rows_quarantined == 0
    by_file = {r["source_file"].rsplit("/", 1)[1]: r["label"] for r in labels.to_pylist()}
    assert by_file["pantanal_2024-03-05.tif"] == "flood"
    assert by_file["pantanal_2024-03-21.npy"] == "normal"
    assert by_file["pantanal_2024-04-05.npy"] == "cloud"
    assert by_file["LC09_220079_20240913.tif"] == "drought"
    scene_ids = [t for t in labels.column("tile_id").to_pylist() if t.startswith("norte_de_minas")]
    assert sorted(t[-4:] for t in scene_ids) == ["r0c1", "r0c2", "r1c0", "r1c1", "r1c2"]
    first = labels.to_pylist()[0]
    assert first["model_version"] == model[1].model_version("tflite_int8")
    assert first["source_file"].startswith("inbox/done/tiles-")
    assert (
        abs(first["p_normal"] + first["p_flood"] + first["p_drought"] + first["p_cloud"] - 1) < 0.02
    )

    hazard = pq.read_table(home.inside(*HAZARD_FILE))
    assert hazard.equals(region_month_table(labels))
    pantanal_march = next(r for r in hazard.to_pylist() if r["region"] == "pantanal")
    assert (pantanal_march["flood_tiles"], pantanal_march["normal_tiles"]) == (1, 1)
    assert pantanal_march["flood"] is True  # a tie counts
    actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[-2:] == ["ingest.ok", "imagery.run"]


def test_a_tile_seen_before_is_a_duplicate_and_an_empty_inbox_is_fine(
    home: DataHome, db: Database, model: tuple[TFLiteClassifier, ModelInfo]
) -> None:
    inbox = home.inside("inbox", "tiles")
    inbox.mkdir(parents=True)
    np.save(inbox / "pantanal_2024-03-21.npy", tiles("normal", seed=1)[0])
    first = run_imagery(home, db, *model, today=TODAY)
    assert first.classified == 1
    np.save(inbox / "pantanal_2024-03-21.npy", tiles("normal", seed=1)[0])
    np.save(inbox / "pantanal_2024-03-22.npy", tiles("normal", seed=2)[0])
    again = run_imagery(home, db, *model, today=TODAY)
    assert again.ingest is not None
    run = again.ingest.run
    assert (run.rows_in, run.rows_ok, run.rows_quarantined) == (2, 1, 1)
    assert "duplicate primary key" in again.ingest.quarantine[0].reason
    assert read_dataset(home, db, "tile_labels").num_rows == 2
    empty = run_imagery(home, db, *model, today=TODAY)
    assert (empty.classified, empty.quarantined, empty.ingest) == (0, [], None)
    assert empty.hazard_path is not None and empty.hazard_path.is_file()


def test_known_regions_come_from_the_homes_source_schema(
    home: DataHome, db: Database, model: tuple[TFLiteClassifier, ModelInfo]
) -> None:
    schema = home.inside("sources", "tile_labels.toml")
    text = schema.read_text(encoding="utf-8")
    schema.write_text(
        text.replace('"vale_itajai",', '"vale_itajai", "atlantis",'), encoding="utf-8"
    )
    inbox = home.inside("inbox", "tiles")
    inbox.mkdir(parents=True)
    np.save(inbox / "atlantis_2024-05-09.npy", tiles("normal")[0])
    result = run_imagery(home, db, *model, today=TODAY, tiles_dir=inbox)
    assert result.classified == 1 and not result.quarantined
    shutil.rmtree(inbox)
    assert run_imagery(home, db, *model, today=TODAY).classified == 0  # no inbox/tiles: fine
