"""Reading tiles and scenes: the real Landsat-derived GeoTIFF, demo tiles, .npy, names."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from appliance.demo.tiles import write_tiles
from imagery_edge import BadTile, load_model_info, read_raster, tile_identity, tile_raster
from imagery_edge.preprocess import check_tile, to_reflectance

LANDSAT = Path(__file__).parents[2] / "shared/data/landsat/RGB.byte.tif"
needs_landsat = pytest.mark.skipif(
    not LANDSAT.is_file(), reason=f"the real Landsat GeoTIFF is not at {LANDSAT}"
)


@needs_landsat
def test_reads_the_real_georeferenced_geotiff() -> None:
    raster = read_raster(LANDSAT)
    assert raster.pixels.shape == (718, 791, 3)
    assert raster.pixels.dtype == np.uint8
    assert raster.nodata == 0
    assert raster.georef is not None
    assert raster.georef.epsg == 32618  # WGS 84 / UTM zone 18N
    assert raster.georef.origin == pytest.approx((101985.0, 2826915.0))
    assert raster.georef.pixel_size == pytest.approx((300.038, 300.042), abs=1e-3)
    assert raster.pixels.max() == 255 and (raster.pixels == 0).all(axis=2).any()


@needs_landsat
def test_tiles_the_real_scene_with_georeference() -> None:
    raster = read_raster(LANDSAT)
    tiles = list(tile_raster(raster, 64))
    assert len(tiles) == (718 // 64) * (791 // 64)
    last = tiles[-1]
    assert (last.row, last.col) == (718 // 64 - 1, 791 // 64 - 1)
    assert last.pixels.shape == (64, 64, 3)
    assert np.array_equal(last.pixels, raster.pixels[640:704, 704:768])
    assert last.georef is not None
    x, y = last.georef.origin
    assert x == pytest.approx(101985.0 + 704 * 300.0379, rel=1e-6)
    assert y == pytest.approx(2826915.0 - 640 * 300.0418, rel=1e-6)


@needs_landsat
def test_the_six_band_model_refuses_the_three_band_file_with_a_clear_reason() -> None:
    info = load_model_info()
    window = next(t for t in tile_raster(read_raster(LANDSAT), 64) if t.pixels.all())
    with pytest.raises(BadTile, match=r"3 band\(s\), but the hazard model needs 6 \(blue, green"):
        check_tile(window.pixels, info)


def test_reads_demo_tiles_as_six_band_surface_reflectance(tmp_path: Path) -> None:
    write_tiles(tmp_path, seed=3)
    path = sorted(tmp_path.glob("pantanal_2024-0*.tif"))[0]
    raster = read_raster(path)
    info = load_model_info()
    assert raster.pixels.shape == (64, 64, 6) and raster.pixels.dtype == np.uint16
    assert raster.georef is not None and raster.georef.epsg == 4326
    assert raster.georef.origin == pytest.approx((-57.6, -19.0))
    check_tile(raster.pixels, info, raster.nodata)
    reflectance = to_reflectance(raster.pixels, info)
    assert reflectance.dtype == np.float32 and 0 <= reflectance.min() < reflectance.max() <= 1
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_reads_npy_and_refuses_what_is_not_a_tile(tmp_path: Path) -> None:
    pixels = np.full((64, 64, 6), 9000, np.uint16)
    np.save(tmp_path / "t.npy", pixels)
    assert np.array_equal(read_raster(tmp_path / "t.npy").pixels, pixels)
    (tmp_path / "t.png").write_bytes(b"\x89PNG")
    with pytest.raises(BadTile, match="not a tile file"):
        read_raster(tmp_path / "t.png")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    with pytest.raises(BadTile, match="cannot read the file"):
        read_raster(tmp_path / "broken.tif")
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadTile, match="cannot read the file"):
        read_raster(tmp_path / "pickled.npy")  # never unpickles


def test_name_convention_and_sidecar(tmp_path: Path) -> None:
    tile = tmp_path / "serra_gaucha_2024-05-09_2.tif"
    assert tile_identity(tile).region == "serra_gaucha"
    assert tile_identity(tile).acquired == date(2024, 5, 9)
    odd = tmp_path / "LC09_L2SP_220079_20240509.tif"
    with pytest.raises(BadTile, match="does not follow <region>_<YYYY-MM-DD>"):
        tile_identity(odd)
    odd.with_suffix(".json").write_text(
        json.dumps({"region": "pantanal", "acquired": "2024-05-09"}), encoding="utf-8"
    )
    assert tile_identity(odd).region == "pantanal"
    odd.with_suffix(".json").write_text('{"region": "pantanal"}', encoding="utf-8")
    with pytest.raises(BadTile, match="needs string fields region and acquired"):
        tile_identity(odd)
    with pytest.raises(BadTile, match="is not a date"):
        tile_identity(tmp_path / "pantanal_2024-13-40.tif")


def test_check_tile_names_each_problem() -> None:
    info = load_model_info()
    good = np.full((64, 64, 6), 9000, np.uint16)
    check_tile(good, info)
    with pytest.raises(BadTile, match=r"32x64 pixels, but the hazard model takes 64x64"):
        check_tile(good[:32], info)
    nan = good.astype(np.float32) * 2.75e-5 - 0.2
    nan[3, 4, 2] = np.nan
    with pytest.raises(BadTile, match=r"1 pixel\(s\) are NaN"):
        check_tile(nan, info)
    holes = good.copy()
    holes[:2, :2] = 0
    with pytest.raises(BadTile, match=r"4 no-data pixel\(s\)"):
        check_tile(holes, info)
    with pytest.raises(BadTile, match="pixel type int32 is not surface reflectance"):
        check_tile(good.astype(np.int32), info)
