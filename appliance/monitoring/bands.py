"""Traffic-light bands: a metric's value is stable, watch or act.

A band is two thresholds: below ``watch`` a value is stable, up to and including
``act`` it is worth watching, above ``act`` someone should act. The conventional PSI
bands are 0.10 and 0.25. Bands are configurable per metric; a metric without a band
is reported but never judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_BANDS", "LEVELS", "Band", "Level", "worst"]

Level = Literal["stable", "watch", "act"]
LEVELS: tuple[Level, ...] = ("stable", "watch", "act")


@dataclass(frozen=True)
class Band:
    watch: float
    act: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.watch <= self.act:
            raise ValueError(f"a band needs 0 <= watch <= act, got watch {self.watch}, "
                             f"act {self.act}")  # fmt: skip

    def level(self, value: float) -> Level:
        """``stable`` below watch, ``watch`` up to act, ``act`` above it."""
        if value > self.act:
            return "act"
        return "watch" if value >= self.watch else "stable"


DEFAULT_BANDS: Mapping[str, Band] = {
    "psi": Band(0.10, 0.25),
    "missing_change": Band(0.05, 0.10),
    "unseen_share": Band(0.01, 0.05),
    "skew_mismatch": Band(0.01, 0.05),
    "auc_drop": Band(0.02, 0.05),
}
"""PSI (and CSI for categories), the absolute change of the missing rate, the share of
values outside the training levels, the share of rows whose served feature differs
from the offline one (skew), and the drop of realised AUC below the test AUC."""


def worst(levels: list[Level | None]) -> Level | None:
    """The most severe of ``levels`` (None when none was judged)."""
    judged = [level for level in levels if level is not None]
    return max(judged, key=LEVELS.index) if judged else None
