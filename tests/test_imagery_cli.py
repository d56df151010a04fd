"""`appliance imagery` end to end on demo tiles in a real home, and the demo's hazard
history recovered from its tiles."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from appliance.demo.regions import REGION_IDS, hazard_calendar
from appliance.demo.tiles import write_tiles
from appliance.home import DataHome
from tests.conftest import CliOutcome

LANDSAT = Path(__file__).parents[2] / "shared/data/landsat/RGB.byte.tif"


@pytest.fixture(scope="module")
def demo_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-tiles")
    write_tiles(folder, seed=7)
    return folder


def test_imagery_on_a_few_demo_tiles(
    home: DataHome, run_cli: Callable[..., CliOutcome], demo_tiles: Path
) -> None:
    inbox = home.inside("inbox", "tiles")
    inbox.mkdir()
    picked = sorted(demo_tiles.glob("serra_gaucha_2024-0*.tif"))
    for path in picked:
        shutil.copy(path, inbox)
    (inbox / "serra_gaucha_2024-13-01.tif").write_bytes(b"not even a tiff")
    if LANDSAT.is_file():
        shutil.copy(LANDSAT, inbox / "vale_itajai_2024-01-02.tif")
    outcome = run_cli("imagery", "--device", "gpu", "--threads", "2", "--batch", "4")
    assert outcome.exit_code == 0, outcome.stderr
    assert "device: cpu, not the gpu asked for" in outcome.stderr  # no GPU here: one line
    assert outcome.stderr.count("device:") == 1
    assert f"classified {len(picked)} tile(s)" in outcome.stdout
    assert "flood" in outcome.stdout  # serra_gaucha's scripted 2024-04..06 flood
    assert (
        "serra_gaucha_2024-13-01.tif: '2024-13-01' in serra_gaucha_2024-13-01.tif is not a date"
        in outcome.stdout
    )
    if LANDSAT.is_file():
        assert (
            "vale_itajai_2024-01-02.tif: 3 band(s), but the hazard model needs 6" in outcome.stdout
        )
    assert "region x month hazard table" in outcome.stdout
    assert not [p for p in inbox.iterdir()]
    listing = run_cli("datasets", "tile_labels")
    assert listing.exit_code == 0 and f"{len(picked)} rows" in listing.stdout
    again = run_cli("imagery", "--device", "cpu")
    assert again.exit_code == 0 and "no tiles waiting" in again.stdout
    assert "device: cpu, as asked" in again.stderr


def test_the_demo_hazard_calendar_is_recovered_from_its_tiles(
    home: DataHome, run_cli: Callable[..., CliOutcome], demo_tiles: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "tiles"
    shutil.copytree(demo_tiles, inbox)
    outcome = run_cli("imagery", "--from", str(inbox), "--device", "cpu")
    assert outcome.exit_code == 0, outcome.stderr
    table = pq.read_table(home.inside("lake", "derived", "region_hazard.parquet")).to_pylist()
    calendar = hazard_calendar()
    region = np.array([REGION_IDS.index(r["region"]) for r in table])
    month = np.array([np.datetime64(r["month"], "M") for r in table])
    flood, drought = calendar.at(region, month)
    found_flood = np.array([r["flood"] for r in table])
    found_drought = np.array([r["drought"] for r in table])
    agree = (found_flood == flood) & (found_drought == drought)
    assert len(table) == len(REGION_IDS) * 84  # every region, 2019-01 .. 2025-12
    assert agree.mean() >= 0.95
    in_calendar = (month >= calendar.months[0]) & (month <= calendar.months[-1])
    assert agree[in_calendar].mean() >= 0.95  # where the floods and droughts are
    assert found_flood[flood].mean() >= 0.9 and found_drought[drought].mean() >= 0.9
