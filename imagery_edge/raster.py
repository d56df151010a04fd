"""Reading tiles and scenes: GeoTIFF (``tifffile``) or ``.npy``, with their georeference.

A raster comes back as (height, width, bands) in the file's own pixel type, whatever the
TIFF's layout (band-interleaved or band-sequential), with its no-data value and, for a
GeoTIFF, where it lies (EPSG code, upper-left corner, pixel size). ``tile_raster`` cuts a
scene into model-sized tiles with their own georeference. A file that cannot be read at
all raises ``BadTile`` naming the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imagery_edge.errors import BadTile

__all__ = ["TILE_SUFFIXES", "GeoRef", "Raster", "read_raster", "tile_raster"]

TILE_SUFFIXES = (".tif", ".tiff", ".npy")
_PIXEL_SCALE, _TIEPOINT, _GEOKEYS, _GDAL_NODATA = 33550, 33922, 34735, 42113
_EPSG_KEYS = (3072, 2048)  # ProjectedCSTypeGeoKey, GeographicTypeGeoKey


@dataclass(frozen=True)
class GeoRef:
    """Where a raster lies: its CRS and the position and size of its pixels."""

    epsg: int | None
    origin: tuple[float, float]
    """Map coordinates (x, y) of the upper-left corner of the upper-left pixel."""
    pixel_size: tuple[float, float]
    """Pixel width and height in map units (both positive; y decreases downwards)."""

    def shifted(self, row: int, col: int) -> GeoRef:
        """The georeference of a window starting at pixel (row, col)."""
        x, y = self.origin
        dx, dy = self.pixel_size
        return replace(self, origin=(x + col * dx, y - row * dy))


@dataclass(frozen=True)
class Raster:
    pixels: np.ndarray
    """(height, width, bands) in the file's pixel type."""
    nodata: float | None = None
    georef: GeoRef | None = None


def read_raster(path: Path) -> Raster:
    """Read a GeoTIFF or ``.npy`` (height, width, bands) file."""
    suffix = path.suffix.lower()
    if suffix not in TILE_SUFFIXES:
        raise BadTile(f"not a tile file: expected one of {', '.join(TILE_SUFFIXES)}")
    try:
        if suffix == ".npy":
            return _read_npy(path)
        return _read_tiff(path)
    except BadTile:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a foreign reader on a damaged file: many error types
        raise BadTile(f"cannot read the file: {type(exc).__name__}: {exc}") from exc


def _read_npy(path: Path) -> Raster:
    pixels = np.load(path, allow_pickle=False)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise BadTile(f".npy tiles are (height, width, bands); this one has shape {pixels.shape}")
    return Raster(pixels)


def _read_tiff(path: Path) -> Raster:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes = series.axes
        pixels = series.asarray()
        tags = tif.pages.first.tags
        georef = _georef(tags)
        nodata_tag = tags.get(_GDAL_NODATA)
        nodata = float(str(nodata_tag.value).strip("\x00 ")) if nodata_tag is not None else None
    if axes == "YX":
        pixels = pixels[..., None]
    elif axes in ("SYX", "CYX", "QYX", "IYX"):
        pixels = np.moveaxis(pixels, 0, -1)
    elif axes != "YXS":
        raise BadTile(f"unsupported TIFF layout (axes {axes}); expected one image of bands")
    return Raster(pixels, nodata, georef)


def _georef(tags: Any) -> GeoRef | None:
    scale, tiepoint = tags.get(_PIXEL_SCALE), tags.get(_TIEPOINT)
    if scale is None or tiepoint is None:
        return None
    i, j, _, x, y, _ = (float(v) for v in tiepoint.value[:6])
    dx, dy = float(scale.value[0]), float(scale.value[1])
    keys = tags.get(_GEOKEYS)
    epsg = None
    if keys is not None:
        values = [int(v) for v in keys.value]
        entries = {values[k]: values[k + 3] for k in range(4, len(values) - 3, 4)}
        epsg = next((entries[key] for key in _EPSG_KEYS if key in entries), None)
    return GeoRef(epsg, (x - i * dx, y + j * dy), (dx, dy))


@dataclass(frozen=True)
class RasterTile:
    row: int
    col: int
    pixels: np.ndarray
    georef: GeoRef | None


def tile_raster(raster: Raster, size: int) -> Iterator[RasterTile]:
    """Cut a scene into ``size`` x ``size`` tiles, row by row; the ragged right and bottom
    edges (less than a tile) are left out."""
    height, width = raster.pixels.shape[:2]
    for row in range(0, height - size + 1, size):
        for col in range(0, width - size + 1, size):
            georef = raster.georef.shifted(row, col) if raster.georef else None
            window = raster.pixels[row : row + size, col : col + size]
            yield RasterTile(row // size, col // size, window, georef)
