"""The demo world's regions and their monthly flood/drought calendar, shared by all generators.

Twelve Brazil-like regions, each with a hazard profile: flood-prone (rainy-season
floods), drought-prone (dry-season droughts), mixed, or low. The calendar covers
2023-01 .. 2025-12 and is the same for every seed: it is the demo's fixed "weather",
so credit outcomes, imagery labels and regional features all agree on it. It is
drawn from a private generator plus three scripted events:

- ``serra_gaucha``: a major flood, 2024-04 .. 2024-06;
- ``sertao_pernambucano``: a long drought, 2024-07 .. 2025-06 (the late-period credit
  applicants come disproportionately from here: the drift the demo lets you detect);
- ``pantanal``: a dry-season drought, 2024-06 .. 2024-10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CALENDAR_MONTHS",
    "CALENDAR_START",
    "DROUGHT_HIT",
    "REGIONS",
    "REGION_IDS",
    "HazardCalendar",
    "Region",
    "hazard_calendar",
]

CALENDAR_START = np.datetime64("2023-01", "M")
CALENDAR_MONTHS = 36
DROUGHT_HIT = "sertao_pernambucano"
_HAZARD_SEED = 20230101


@dataclass(frozen=True)
class Region:
    """One region of the demo world."""

    id: str
    """Stable ASCII key written in every data file."""
    name: str
    state: str
    lat: float
    lon: float
    profile: str
    """``flood``, ``drought``, ``mixed`` or ``low``."""
    weight: float
    """Share of the customer population living here."""
    wet_months: tuple[int, ...] = ()
    """Calendar months (1-12) of the flood season."""
    dry_months: tuple[int, ...] = ()
    """Calendar months (1-12) of the drought season."""


_SOUTH_WET = (12, 1, 2, 3)
_NE_DRY = (8, 9, 10, 11, 12)
REGIONS: tuple[Region, ...] = (
    Region("vale_itajai", "Vale do Itajaí", "SC", -26.9, -49.1, "flood", 0.08, _SOUTH_WET),
    Region("serra_gaucha", "Serra Gaúcha", "RS", -29.2, -51.2, "flood", 0.08, (5, 6, 7, 8)),
    Region(
        "baixada_fluminense", "Baixada Fluminense", "RJ", -22.8, -43.4, "flood", 0.12, _SOUTH_WET
    ),
    Region(
        "grande_belem",
        "Região Metropolitana de Belém",
        "PA",
        -1.4,
        -48.5,
        "flood",
        0.08,
        (1, 2, 3, 4, 5),
    ),
    Region(
        "pantanal",
        "Pantanal Sul-Mato-Grossense",
        "MS",
        -19.0,
        -57.6,
        "mixed",
        0.05,
        (2, 3, 4),
        (8, 9, 10),
    ),
    Region(
        "sertao_pernambucano",
        "Sertão Pernambucano",
        "PE",
        -8.3,
        -38.0,
        "drought",
        0.07,
        (),
        _NE_DRY,
    ),
    Region("cariri_cearense", "Cariri Cearense", "CE", -7.2, -39.3, "drought", 0.07, (), _NE_DRY),
    Region("serido_potiguar", "Seridó Potiguar", "RN", -6.5, -36.9, "drought", 0.05, (), _NE_DRY),
    Region(
        "norte_de_minas", "Norte de Minas", "MG", -16.7, -43.9, "drought", 0.08, (), (6, 7, 8, 9)
    ),
    Region(
        "reconcavo_baiano",
        "Recôncavo Baiano",
        "BA",
        -12.7,
        -39.0,
        "mixed",
        0.08,
        (4, 5, 6),
        (10, 11, 12),
    ),
    Region("triangulo_mineiro", "Triângulo Mineiro", "MG", -18.9, -48.3, "low", 0.10),
    Region("oeste_paulista", "Oeste Paulista", "SP", -22.1, -51.4, "low", 0.14),
)
REGION_IDS: tuple[str, ...] = tuple(r.id for r in REGIONS)

_SEASON_P = {"flood": (0.50, 0.45), "drought": (0.45, 0.50), "mixed": (0.22, 0.25), "low": (0, 0)}
_OFF_SEASON_P = {"flood": 0.03, "drought": 0.03, "mixed": 0.02, "low": 0.01}
_SCRIPTED = (
    ("serra_gaucha", "flood", "2024-04", "2024-06"),
    ("sertao_pernambucano", "drought", "2024-07", "2025-06"),
    ("pantanal", "drought", "2024-06", "2024-10"),
)


@dataclass(frozen=True)
class HazardCalendar:
    """Monthly hazard flags: ``flood[r, m]`` and ``drought[r, m]`` for region r, month m."""

    months: np.ndarray
    """``datetime64[M]``, one per calendar month."""
    flood: np.ndarray
    drought: np.ndarray

    def month_index(self, month: np.ndarray) -> np.ndarray:
        """Position of each ``datetime64[M]`` in the calendar (may fall outside it)."""
        return (np.asarray(month, "datetime64[M]") - CALENDAR_START).astype(np.int64)

    def at(self, region: np.ndarray, month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flood and drought flags for each (region index, month); False outside the calendar."""
        pos = self.month_index(month)
        inside = (pos >= 0) & (pos < CALENDAR_MONTHS)
        safe = np.clip(pos, 0, CALENDAR_MONTHS - 1)
        return self.flood[region, safe] & inside, self.drought[region, safe] & inside

    def window_counts(
        self, region: np.ndarray, end_month: np.ndarray, window: int = 12
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flood and drought months in the ``window`` months strictly before ``end_month``."""
        end = np.clip(self.month_index(end_month), 0, CALENDAR_MONTHS)
        start = np.clip(self.month_index(end_month) - window, 0, CALENDAR_MONTHS)
        counts = []
        for flags in (self.flood, self.drought):
            cum = np.concatenate([np.zeros((len(REGIONS), 1), np.int64), flags.cumsum(1)], 1)
            counts.append(cum[region, end] - cum[region, start])
        return counts[0], counts[1]

    def rows(self) -> list[tuple[str, str, bool, bool]]:
        """The calendar as (region_id, 'YYYY-MM', flood, drought) rows, for reports and tests."""
        return [
            (region.id, str(month), bool(self.flood[r, m]), bool(self.drought[r, m]))
            for r, region in enumerate(REGIONS)
            for m, month in enumerate(self.months)
        ]


def hazard_calendar() -> HazardCalendar:
    """The demo world's fixed hazard calendar (identical on every call and every seed)."""
    rng = np.random.default_rng(_HAZARD_SEED)
    months = CALENDAR_START + np.arange(CALENDAR_MONTHS)
    month_of_year = months.astype(np.int64) % 12 + 1
    shape = (len(REGIONS), CALENDAR_MONTHS)
    draws = rng.random((2, *shape))
    flood, drought = np.zeros(shape, bool), np.zeros(shape, bool)
    for r, region in enumerate(REGIONS):
        wet_p, dry_p = _SEASON_P[region.profile]
        off = _OFF_SEASON_P[region.profile]
        p_flood = np.where(np.isin(month_of_year, region.wet_months), wet_p, off)
        p_drought = np.where(np.isin(month_of_year, region.dry_months), dry_p, off)
        flood[r] = draws[0, r] < p_flood
        drought[r] = draws[1, r] < p_drought
    for region_id, kind, first, last in _SCRIPTED:
        r = REGION_IDS.index(region_id)
        span = (months >= np.datetime64(first, "M")) & (months <= np.datetime64(last, "M"))
        (flood if kind == "flood" else drought)[r, span] = True
    return HazardCalendar(months=months, flood=flood, drought=drought)
