"""Use-case specs: a TOML file that says what to predict, from which data, and how to judge it.

The spec's types, frozen and validated once by ``appliance.usecase.parse``; checks
against the lake's datasets live in ``appliance.usecase.checks``. The format is
documented in ``docs/usecases.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AgeFeature",
    "ColumnFeature",
    "ColumnRef",
    "FeatureSpec",
    "History",
    "HourFeature",
    "PaymentHistoryFeature",
    "Population",
    "Protected",
    "RatioFeature",
    "RegionalHazardFeature",
    "SplitPolicy",
    "TableJoin",
    "Task",
    "ThresholdSpec",
    "TrainingSpec",
    "UseCaseSpec",
    "WindowStatsFeature",
]


@dataclass(frozen=True)
class ColumnRef:
    """A column of the population (``table`` None) or of a joined table."""

    table: str | None
    column: str

    def __str__(self) -> str:
        return self.column if self.table is None else f"{self.table}.{self.column}"


@dataclass(frozen=True)
class Population:
    """The dataset with one row per decision: an application, a transaction, an offer."""

    dataset: str
    id: str
    target: str
    entity: str | None = None
    time: str | None = None
    positive: str | int | bool = 1
    positive_label: str = "positive"
    favourable: Literal["not_flagged", "flagged"] = "not_flagged"
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class TableJoin:
    """A static table joined one row per population row by key (customers, accounts)."""

    name: str
    dataset: str
    key: str
    on: str


@dataclass(frozen=True)
class History:
    """Dated records per entity, aggregated point-in-time (bills, transactions)."""

    name: str
    dataset: str
    key: str
    time: str
    known_at: tuple[str, ...] = ()
    on: str | None = None


@dataclass(frozen=True)
class ColumnFeature:
    """One column used as it is, numeric or categorical, with optional transforms."""

    name: str
    column: ColumnRef
    kind: Literal["numeric", "categorical"] | None = None
    clip: tuple[float, float] | None = None
    log: bool = False
    bins: int | None = None
    min_count: int = 1


@dataclass(frozen=True)
class RatioFeature:
    name: str
    numerator: ColumnRef
    denominator: ColumnRef
    clip: tuple[float, float] | None = None
    log: bool = False


@dataclass(frozen=True)
class AgeFeature:
    """Time from a date column to the decision date, in years or months."""

    name: str
    column: ColumnRef
    unit: Literal["years", "months", "days"] = "years"


@dataclass(frozen=True)
class HourFeature:
    """Hour of the day (0-23, fractional) from a time text ``HH:MM[:SS]`` or a timestamp."""

    name: str
    column: ColumnRef


@dataclass(frozen=True)
class PaymentHistoryFeature:
    """On-time ratio, lateness, missed and partial payments, trend over trailing windows."""

    history: str
    windows: tuple[int, ...]
    billed: str
    paid: str
    days_late: str
    limit: str | None = None
    prefix: str = ""


@dataclass(frozen=True)
class WindowStatsFeature:
    """Counts and sums (or mean, max, min) of history columns over trailing windows."""

    history: str
    windows: tuple[int, ...]
    stats: tuple[tuple[str, tuple[str, ...]], ...]
    prefix: str = ""


@dataclass(frozen=True)
class RegionalHazardFeature:
    """Flood and drought months in the applicant's region over the years before the decision."""

    region: ColumnRef
    years: tuple[int, ...] = (1, 3, 5)
    dataset: str = "tile_labels"


FeatureSpec = (
    ColumnFeature
    | RatioFeature
    | AgeFeature
    | HourFeature
    | PaymentHistoryFeature
    | WindowStatsFeature
    | RegionalHazardFeature
)


@dataclass(frozen=True)
class Protected:
    """An attribute fairness is measured on; never a feature. Dates become age bands."""

    name: str
    column: ColumnRef
    age_bands: tuple[int, ...] = ()


@dataclass(frozen=True)
class SplitPolicy:
    policy: Literal["time", "random"]
    validation: float = 0.15
    test: float = 0.15
    backtest_months: int = 0
    backtest_days: int = 0
    seed: int = 7


@dataclass(frozen=True)
class ThresholdSpec:
    policy: Literal["max_fbeta", "precision_at_recall", "approval_rate"] = "max_fbeta"
    beta: float = 1.0
    recall_floor: float | None = None
    approval_rate: float | None = None


Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TrainingSpec:
    metric: str = "roc_auc"
    trials: int = 6
    max_rounds: int = 600
    early_stopping: int = 50
    seed: int = 7
    leak_auc: float = 0.97
    leak_corr: float = 0.98
    """Regression's leak screen: a feature whose rank correlation with the target reaches
    this on its own is refused."""


@dataclass(frozen=True)
class UseCaseSpec:
    """A whole use case, frozen and validated once."""

    name: str
    population: Population
    features: tuple[FeatureSpec, ...]
    split: SplitPolicy
    task: Task = "classification"
    """``classification`` (a yes/no target, a probability) or ``regression`` (an amount)."""
    model: str = ""
    description: str = ""
    purpose: str = ""
    owner: str = ""
    tables: tuple[TableJoin, ...] = ()
    histories: tuple[History, ...] = ()
    auto_features: bool = False
    exclude: tuple[str, ...] = ()
    protected: tuple[Protected, ...] = ()
    training: TrainingSpec = field(default_factory=TrainingSpec)
    threshold: ThresholdSpec = field(default_factory=ThresholdSpec)
    lift_buckets: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    backtest_period: Literal["week", "month"] = "week"
    tolerance: float = 0.005
    auto_promote: bool = False
    origin: str = "<inline>"
    fingerprint: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def model_name(self) -> str:
        return self.model or self.name

    def table(self, name: str) -> TableJoin:
        return next(t for t in self.tables if t.name == name)

    def history(self, name: str) -> History:
        return next(h for h in self.histories if h.name == name)
