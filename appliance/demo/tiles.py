"""Synthetic Landsat-like satellite tiles for the demo regions, following the hazard calendar.

Each tile is 64 x 64 pixels of six bands in Landsat 8/9 OLI order (blue, green, red,
NIR, SWIR1, SWIR2), stored as Collection 2 Level-2 surface-reflectance numbers
(``reflectance = DN * 2.75e-5 - 0.2``, ``uint16``, 0 = no data) in a band-sequential
GeoTIFF named ``<region>_<YYYY-MM-DD>.tif`` (``_2`` for a second pass the same day).

Pixels mix five surfaces with the spectra a field spectrometer would show:

- green vegetation: low red, high NIR (NDVI ~0.8);
- dry vegetation and bare soil: red and SWIR up, NIR down (NDVI ~0.2);
- clear water (rivers, reservoirs) and turbid flood water: green above NIR (NDWI > 0),
  almost nothing in SWIR;
- cloud: bright in every band.

A ``normal`` tile is vegetation whose dryness follows the region's climate and season,
maybe with a river and a few small clouds; a ``flood`` tile has 30-85 % of its area under
turbid water; a ``drought`` tile has dryness 0.65-0.95 (low NDVI, high SWIR); a ``cloud``
tile is 65-100 % covered. Areas come from smooth random fields, so water and clouds form
blobs, and every tile has sensor noise and a brightness (sun, haze) factor.

The demo set covers every region and month from ``TILE_START`` to ``TILE_END``: one
clear tile per month whose class follows ``regions.hazard_calendar().at`` (a flood and a
drought in the same month give one tile each), plus, in some months, a cloudy pass (more
often in the wet season). Months outside the calendar have no hazard, so they are normal.
``sample_tiles`` draws labelled tiles from the same physics for training the hazard model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.demo.regions import REGIONS, Region, hazard_calendar

__all__ = [
    "BANDS",
    "CLASSES",
    "SR_OFFSET",
    "SR_SCALE",
    "TILE_END",
    "TILE_SIZE",
    "TILE_START",
    "Acquisition",
    "acquisition_plan",
    "render",
    "sample_tiles",
    "write_tiles",
]

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
CLASSES = ("normal", "flood", "drought", "cloud")
TILE_SIZE = 64
TILE_START = np.datetime64("2019-01", "M")
TILE_END = np.datetime64("2025-12", "M")
SR_SCALE = 2.75e-5  # Landsat Collection 2 Level-2 surface reflectance scaling
SR_OFFSET = -0.2
_TAG = 4  # this generator's stream in the seed sequence

# Surface reflectance (blue, green, red, NIR, SWIR1, SWIR2) of each surface.
_GREEN_VEG = np.array([0.030, 0.060, 0.035, 0.360, 0.170, 0.080], np.float32)
_DRY_LAND = np.array([0.080, 0.110, 0.150, 0.240, 0.340, 0.260], np.float32)
_CLEAR_WATER = np.array([0.050, 0.055, 0.035, 0.015, 0.008, 0.005], np.float32)
_FLOOD_WATER = np.array([0.070, 0.100, 0.090, 0.050, 0.020, 0.010], np.float32)
_CLOUD = np.array([0.600, 0.600, 0.610, 0.630, 0.450, 0.320], np.float32)
_SURFACES = np.stack([_GREEN_VEG, _DRY_LAND, _CLEAR_WATER, _FLOOD_WATER, _CLOUD])
_BASE_DRYNESS = {"flood": 0.08, "drought": 0.24, "mixed": 0.15, "low": 0.12}
_CHUNK = 64
_CLOUDY_PASS_P = (0.10, 0.35)  # chance of an extra cloudy pass: (dry/normal, wet season)


@dataclass(frozen=True)
class Acquisition:
    """One demo tile: where, when, and what it shows."""

    region: int
    """Index into ``regions.REGIONS``."""
    acquired: np.datetime64
    kind: int
    """Index into ``CLASSES``."""
    name: str


def acquisition_plan(seed: int) -> list[Acquisition]:
    """Every demo tile, ordered by region then date (pure: no files)."""
    rng = np.random.default_rng([seed, _TAG, 0])
    calendar = hazard_calendar()
    months = np.arange(TILE_START, TILE_END + 1)
    plan: list[Acquisition] = []
    for r, region in enumerate(REGIONS):
        flood, drought = calendar.at(np.full(len(months), r), months)
        phase = int(rng.integers(1, 9))  # Landsat 8 + 9 together pass every 8 days
        wet = np.isin(months.astype(np.int64) % 12 + 1, region.wet_months)
        cloudy = rng.random(len(months)) < np.where(wet, _CLOUDY_PASS_P[1], _CLOUDY_PASS_P[0])
        for m, month in enumerate(months):
            kinds = [1] * bool(flood[m]) + [2] * bool(drought[m]) or [0]
            kinds += [3] * bool(cloudy[m])
            days = phase + 8 * rng.permutation(3)[: len(kinds)]
            for kind, day in zip(kinds, days, strict=False):
                acquired = month.astype("datetime64[D]") + int(day) - 1
                plan.append(Acquisition(r, acquired, kind, f"{region.id}_{acquired}"))
    return _unique_names(plan)


def _unique_names(plan: list[Acquisition]) -> list[Acquisition]:
    seen: set[str] = set()
    out = []
    for item in sorted(plan, key=lambda a: (a.region, a.acquired, a.kind)):
        name = item.name if item.name not in seen else f"{item.name}_2"
        seen.add(name)
        out.append(Acquisition(item.region, item.acquired, item.kind, name))
    return out


def sample_tiles(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled tiles (classes balanced, random regions and months) for training.

    Returns ``(dn, labels)``: ``uint16`` (n, 64, 64, 6) and ``int64`` class indices."""
    rng = np.random.default_rng([seed, _TAG, 1])
    kinds = np.arange(n) % len(CLASSES)
    rng.shuffle(kinds)
    regions = rng.integers(0, len(REGIONS), n)
    months = rng.integers(1, 13, n)
    return render(kinds, regions, months, rng), kinds.astype(np.int64)


def render(
    kinds: np.ndarray, regions: np.ndarray, month_of_year: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Tiles of the given classes, regions (indices) and months (1-12) as Landsat SR DN:
    ``uint16`` (n, 64, 64, 6), a view of band-sequential memory (n, 6, 64, 64)."""
    out = np.empty((len(kinds), len(BANDS), TILE_SIZE, TILE_SIZE), np.uint16)
    for start in range(0, len(kinds), _CHUNK):  # small chunks stay in the CPU cache
        part = slice(start, start + _CHUNK)
        out[part] = _render_chunk(kinds[part], regions[part], month_of_year[part], rng)
    return np.moveaxis(out, 1, -1)


def _render_chunk(
    kinds: np.ndarray, regions: np.ndarray, month_of_year: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(kinds)
    fields = _smooth_fields(rng, n, 4)  # water, cloud, dryness, haze texture
    # the ground under a cloud is whatever the season brings
    ground = np.where(kinds == 3, rng.choice(3, n, p=[0.6, 0.2, 0.2]), kinds)
    dryness = _dryness(regions, month_of_year, ground == 2, rng).astype(np.float32)
    dry = np.clip(dryness[:, None, None] + 0.08 * fields[:, 2], 0.0, 1.0)
    flood_cover = np.where(ground == 1, rng.uniform(0.30, 0.85, n), 0.0)
    river = np.where(rng.random(n) < 0.5, rng.uniform(0.0, 0.10, n), 0.0)
    water = _cover(fields[:, 0], np.maximum(flood_cover, river))
    few_clouds = np.where(rng.random(n) < 0.4, rng.uniform(0.0, 0.2, n), 0.0)
    cover = np.where(kinds == 3, rng.uniform(0.65, 1.0, n), few_clouds)
    opacity = _cover(fields[:, 1], cover) * _per_tile(rng.uniform(0.75, 1.0, n))
    land = (1 - water) * (1 - opacity)
    flooded = (ground == 1)[:, None, None]
    wet = water * (1 - opacity)
    fractions = (  # one area fraction per surface in _SURFACES, per pixel
        (1 - dry) * land,
        dry * land,
        np.where(flooded, 0, wet),
        np.where(flooded, wet, 0),
        opacity * _per_tile(rng.uniform(0.8, 1.25, n)),
    )
    gain = (1 + 0.03 * fields[:, 3]) * _per_tile(rng.normal(1.0, 0.04, n)) / SR_SCALE
    dn = np.empty((n, len(BANDS), TILE_SIZE, TILE_SIZE), np.float32)
    for band in range(len(BANDS)):  # per band, not a matmul: BLAS threads thrash here
        plane = dn[:, band]
        np.multiply(fractions[0], _SURFACES[0, band], out=plane)
        for surface in range(1, len(_SURFACES)):
            plane += fractions[surface] * _SURFACES[surface, band]
        plane *= gain
    dn += _sensor_noise(rng, dn.shape) - SR_OFFSET / SR_SCALE
    return np.clip(np.rint(dn, out=dn), 1, 65535).astype(np.uint16)  # 0 is Landsat's no-data


def _per_tile(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32)[:, None, None]


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Noise of sd 0.004 reflectance, in DN: the sum of two uniform bytes (cheap, bell-ish)."""
    size = int(np.prod(shape))
    one, two = (np.frombuffer(rng.bytes(size), np.int8).reshape(shape) for _ in range(2))
    return (one.astype(np.float32) + two) * np.float32(0.004 / SR_SCALE / 104.5)


def _dryness(
    regions: np.ndarray, month_of_year: np.ndarray, drought: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """How dry the vegetation is (0 green .. 1 bare): climate + season, or a drought."""
    base = np.array([_BASE_DRYNESS[r.profile] for r in REGIONS])[regions]
    pairs = list(zip(regions.tolist(), month_of_year.tolist(), strict=True))
    dry_season = np.array([m in REGIONS[r].dry_months for r, m in pairs])
    wet_season = np.array([m in REGIONS[r].wet_months for r, m in pairs])
    normal = base + 0.12 * dry_season - 0.05 * wet_season + rng.uniform(-0.08, 0.08, len(base))
    return np.where(drought, rng.uniform(0.65, 0.95, len(base)), np.clip(normal, 0.0, 0.40))


def _smooth_fields(rng: np.random.Generator, n: int, k: int, coarse: int = 8) -> np.ndarray:
    """``k`` smooth random fields per tile (n, k, 64, 64), bilinear from a coarse grid of
    normal noise, scaled so each is close to a standard normal field."""
    low = rng.standard_normal((n * k, coarse, coarse), np.float32)
    grid = np.linspace(0, coarse - 1, TILE_SIZE, dtype=np.float32)
    weights = np.maximum(0, 1 - np.abs(grid[:, None] - np.arange(coarse, dtype=np.float32)))
    fields = weights @ low @ weights.T
    fields *= np.float32(1 / 0.62)  # bilinear smoothing shrinks the sd to about 0.62
    return fields.reshape(n, k, TILE_SIZE, TILE_SIZE)


def _cover(field: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """A soft-edged mask covering about ``fraction`` of each tile where ``field`` is highest."""
    threshold = np.interp(1 - fraction, _NORMAL_CDF, _NORMAL_X).astype(np.float32)
    logit = np.clip((threshold[:, None, None] - field) * np.float32(1 / 0.08), -30, 30)
    mask = 1 / (1 + np.exp(logit))
    return np.where(fraction[:, None, None] > 0, mask, np.float32(0))


_NORMAL_X = np.linspace(-4, 4, 161)
_NORMAL_CDF = np.cumsum(np.exp(-(_NORMAL_X**2) / 2)) * (_NORMAL_X[1] - _NORMAL_X[0])
_NORMAL_CDF = (_NORMAL_CDF - _NORMAL_CDF[0]) / (_NORMAL_CDF[-1] - _NORMAL_CDF[0])


def write_tiles(out_dir: Path, seed: int = 7, first: int | None = None) -> list[tuple[Path, int]]:
    """Write the demo tiles (or the ``first`` few of the plan) as GeoTIFFs into ``out_dir``;
    returns ``[(out_dir, tiles written)]``."""
    import tifffile

    plan = acquisition_plan(seed)[:first]
    rng = np.random.default_rng([seed, _TAG, 2])
    kinds = np.array([a.kind for a in plan])
    regions = np.array([a.region for a in plan])
    months = np.array([a.acquired.astype("datetime64[M]").astype(int) % 12 + 1 for a in plan])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(plan), 256):
        chunk = slice(start, start + 256)
        pixels = render(kinds[chunk], regions[chunk], months[chunk], rng)
        for acquisition, tile in zip(plan[chunk], pixels, strict=True):
            final = out_dir / f"{acquisition.name}.tif"
            tmp = out_dir / f".{acquisition.name}.tif.tmp"
            tifffile.imwrite(
                tmp,
                np.ascontiguousarray(tile.transpose(2, 0, 1)),
                photometric="minisblack",
                planarconfig="separate",
                extratags=_geotags(REGIONS[acquisition.region]),
                metadata=None,
            )
            tmp.replace(final)
    return [(out_dir, len(plan))]


def _geotags(region: Region) -> list[tuple[int, str, int, object, bool]]:
    """GeoTIFF tags placing a 30 m tile at the region's centre (WGS 84, EPSG:4326)."""
    degrees, lat, lon = 30 / 111_320, region.lat, region.lon
    return [
        (33550, "d", 3, (degrees, degrees, 0.0), True),  # ModelPixelScale
        (33922, "d", 6, (0.0, 0.0, 0.0, lon, lat, 0.0), True),  # ModelTiepoint
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326), True),
        (42113, "s", 2, "0", True),  # GDAL_NODATA
    ]
