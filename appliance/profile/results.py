"""What a data profile is made of: its configuration and the frozen values it produces.

Plain values only: no computation beyond trivial properties, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "BOOLEAN",
    "CATEGORICAL",
    "DATETIME",
    "NUMERIC",
    "OTHER",
    "Alert",
    "ColumnProfile",
    "DatasetProfile",
    "DateSummary",
    "Distribution",
    "Matrix",
    "NumericSummary",
    "ProfileConfig",
    "TargetBin",
    "TargetRates",
    "ValueCount",
]

NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, OTHER = (
    "numeric",
    "boolean",
    "categorical",
    "datetime",
    "other",
)
"""Column kinds: how a column is profiled, decided by its Arrow type."""


@dataclass(frozen=True)
class ProfileConfig:
    """How much work a profile does, and where its warnings start."""

    sample_rows: int = 100_000
    """Correlations and associations use a deterministic sample of at most this many rows."""
    seed: int = 0
    """Seed of that sample, so the same table always gives the same report."""
    top_values: int = 10
    """Levels shown per categorical column (values table, bar plot, target rates)."""
    histogram_bins: int = 30
    """Bins of a numeric column's histogram."""
    target_bins: int = 10
    """Quantile bins of a numeric column in its target-rate plot."""
    max_levels: int = 30
    """Levels kept per categorical column in associations; the rest are pooled."""
    max_corr_columns: int = 40
    """At most this many numeric and this many categorical columns in the matrices."""
    missing_rate: float = 0.2
    """Warn when a column's missing rate is at least this."""
    skew: float = 2.0
    """Warn when a numeric column's absolute skewness is at least this."""
    cardinality: int = 50
    """Warn when a categorical column has more distinct values than this and than half its rows."""
    leakage: float = 0.9
    """Warn when a column's association with the target reaches this: it may leak the label."""
    collinear: float = 0.95
    """Warn when two numeric features' absolute Pearson correlation reaches this."""

    def many_levels(self, distinct: int, present: int) -> bool:
        """Whether a categorical column has too many levels to read or to associate."""
        return distinct > self.cardinality and distinct > present / 2

    def __post_init__(self) -> None:
        for name in (
            "sample_rows",
            "top_values",
            "histogram_bins",
            "target_bins",
            "max_levels",
            "max_corr_columns",
            "cardinality",
        ):
            if getattr(self, name) < 2:
                raise ValueError(f"ProfileConfig.{name} must be at least 2")
        for name in ("missing_rate", "leakage", "collinear"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"ProfileConfig.{name} must be in (0, 1]")


@dataclass(frozen=True)
class NumericSummary:
    """Moments and quantiles of the finite values (ddof=1 std, Fisher-Pearson skew g1)."""

    mean: float
    std: float
    min: float
    p1: float
    p25: float
    p50: float
    p75: float
    p99: float
    max: float
    zeros: int
    negatives: int
    infinite: int
    skew: float


@dataclass(frozen=True)
class ValueCount:
    value: str
    count: int
    share: float
    """Of the column's rows, missing included."""


@dataclass(frozen=True)
class Distribution:
    """What a column's plot shows: a histogram, bars of top levels, or rows per period."""

    kind: str
    """``histogram``, ``bars`` or ``timeline``."""
    counts: tuple[int, ...]
    labels: tuple[str, ...] = ()
    """One per bar or period (empty for a histogram)."""
    edges: tuple[float, ...] = ()
    """Histogram bin edges, one more than ``counts``."""
    below: int = 0
    """Histogram: rows left of the plotted range (the range is p1..p99 for long tails)."""
    above: int = 0
    other: int = 0
    """Bars: rows in levels not shown."""


@dataclass(frozen=True)
class DateSummary:
    min: str
    max: str
    period: str
    """``month``, or ``year`` when the span is longer than ten years."""
    by_period: tuple[ValueCount, ...]


@dataclass(frozen=True)
class TargetBin:
    label: str
    rows: int
    positives: int

    @property
    def rate(self) -> float:
        return self.positives / self.rows if self.rows else math.nan


@dataclass(frozen=True)
class TargetRates:
    method: str
    """``quantile bins``, ``values``, ``top levels`` or the date period."""
    bins: tuple[TargetBin, ...]
    overall: float


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    arrow_type: str
    kind: str
    rows: int
    missing: int
    """Nulls, plus NaN for floating-point columns."""
    distinct: int | None
    """Distinct non-missing values; None where Arrow cannot count them."""
    numeric: NumericSummary | None = None
    top: tuple[ValueCount, ...] = ()
    dates: DateSummary | None = None
    distribution: Distribution | None = None
    target: TargetRates | None = None

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Matrix:
    """Pairwise measures between columns; NaN where undefined."""

    name: str
    method: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]

    def get(self, row: str, column: str) -> float:
        return self.values[self.rows.index(row)][self.columns.index(column)]


@dataclass(frozen=True)
class Alert:
    """One thing to look at before modelling."""

    kind: str
    """``leakage``, ``empty``, ``constant``, ``duplicates``, ``missing``, ``cardinality``,
    ``correlated`` or ``skewed``."""
    column: str | None
    """None for the dataset as a whole."""
    message: str


@dataclass(frozen=True)
class DatasetProfile:
    """Everything the report shows about one table."""

    name: str
    rows: int
    columns: tuple[ColumnProfile, ...]
    memory_bytes: int
    """Arrow buffer size of the table in memory."""
    duplicate_rows: int | None
    """Rows repeating an earlier row exactly; None where a column type cannot be grouped."""
    versions: int
    sample_rows: int
    """Rows the pairwise measures were computed on."""
    target: str | None
    positive_rate: float | None
    matrices: tuple[Matrix, ...]
    """``pearson``, ``spearman``, ``cramers_v``, ``correlation_ratio``: those that apply."""
    alerts: tuple[Alert, ...]
    """Most serious first."""

    @property
    def missing_cells(self) -> int:
        return sum(c.missing for c in self.columns)

    def column(self, name: str) -> ColumnProfile:
        """The profile of the column called ``name`` (KeyError if there is none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)
