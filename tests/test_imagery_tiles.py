"""The demo tiles: physically sensible spectra, the hazard calendar, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from appliance.demo.regions import REGION_IDS, hazard_calendar
from appliance.demo.tiles import (
    BANDS,
    CLASSES,
    SR_OFFSET,
    SR_SCALE,
    TILE_END,
    TILE_START,
    acquisition_plan,
    render,
    sample_tiles,
)

B, G, R, NIR, SWIR1, SWIR2 = range(len(BANDS))


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    dn, labels = sample_tiles(400, seed=5)
    return dn.astype(np.float32) * SR_SCALE + SR_OFFSET, labels


def index(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b) / (a + b + 1e-6)


def test_spectral_signatures(sample: tuple[np.ndarray, np.ndarray]) -> None:
    reflectance, labels = sample
    ndvi = index(reflectance[..., NIR], reflectance[..., R]).mean(axis=(1, 2))
    swir = reflectance[..., SWIR1].mean(axis=(1, 2))
    brightness = reflectance.mean(axis=(1, 2))
    normal, flood, drought, cloud = (labels == k for k in range(4))
    assert ndvi[drought].mean() < ndvi[normal].mean() - 0.2  # drought lowers NDVI ...
    assert swir[drought].mean() > swir[normal].mean() + 0.05  # ... and raises SWIR
    brighter = brightness[cloud] > brightness[normal].mean(axis=0)  # clouds: bright in all bands
    assert brighter.all(axis=1).mean() > 0.95
    assert brightness[cloud][:, B].min() > 3 * brightness[normal][:, B].mean()
    # open water raises green over NIR: the flood tiles' water pixels have NDWI > 0
    ndwi = index(reflectance[..., G], reflectance[..., NIR])
    wet_share = (ndwi > 0).mean(axis=(1, 2))
    assert wet_share[flood].min() > 0.2 and np.median(wet_share[normal]) < 0.05
    water_pixels = ndwi[flood] > 0
    assert reflectance[flood][water_pixels][:, SWIR1].mean() < 0.05  # water absorbs SWIR


def test_balanced_and_in_range(sample: tuple[np.ndarray, np.ndarray]) -> None:
    reflectance, labels = sample
    assert Counter(labels.tolist()) == dict.fromkeys(range(len(CLASSES)), 100)
    assert reflectance.min() >= -0.05 and reflectance.max() <= 1.2


def test_plan_covers_every_region_month_and_follows_the_calendar() -> None:
    plan = acquisition_plan(7)
    months = np.arange(TILE_START, TILE_END + 1)
    first, last = months[0], months[-1]
    assert first <= np.datetime64("2019-01") and last >= np.datetime64("2025-06")
    clear: dict[tuple[int, np.datetime64], set[int]] = {}
    for item in plan:
        month = item.acquired.astype("datetime64[M]")
        if item.kind != 3:
            clear.setdefault((item.region, month), set()).add(item.kind)
    assert len(clear) == len(REGION_IDS) * len(months)  # a clear pass every month
    calendar = hazard_calendar()
    for (region, month), kinds in clear.items():
        flood, drought = calendar.at(np.array([region]), np.array([month]))
        assert (1 in kinds, 2 in kinds) == (bool(flood[0]), bool(drought[0]))
    assert len({item.name for item in plan}) == len(plan)
    assert 0.05 < sum(item.kind == 3 for item in plan) / len(plan) < 0.25


def test_same_seed_same_tiles() -> None:
    kinds, regions, months = np.arange(8) % 4, np.arange(8), np.arange(1, 9)
    one = render(kinds, regions, months, np.random.default_rng(1))
    two = render(kinds, regions, months, np.random.default_rng(1))
    other = render(kinds, regions, months, np.random.default_rng(2))
    assert one.shape == (8, 64, 64, 6) and one.dtype == np.uint16
    assert np.array_equal(one, two) and not np.array_equal(one, other)
    assert one.min() >= 1  # 0 is Landsat's no-data value
    assert acquisition_plan(7) == acquisition_plan(7)
