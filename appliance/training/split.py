"""Splitting rows into train, validation, test and a held-out backtest window.

With a decision date the split follows time: the most recent window (``backtest_months``
calendar months or ``backtest_days`` days) is held out for backtesting, and the rest,
in date order, gives train, then validation, then test, so the model is always judged
on data later than it learnt from. Without one (many public credit data sets) the
split is a seeded random split stratified by the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.errors import SchemaError
from appliance.usecase.spec import SplitPolicy

__all__ = ["Split", "make_split"]


@dataclass(frozen=True)
class Split:
    """Row indices of each part, each sorted ascending."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    backtest: np.ndarray
    policy: str

    def mask(self, part: str, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[getattr(self, part)] = True
        return out

    def sizes(self) -> dict[str, int]:
        return {p: int(getattr(self, p).size) for p in ("train", "validation", "test", "backtest")}


def make_split(
    policy: SplitPolicy, y: np.ndarray, dates: np.ndarray | None, *, stratify: bool = True
) -> Split:
    """Split the rows of a labelled population; ``dates`` are datetime64[D] or None."""
    if policy.policy == "time":
        if dates is None:
            raise SchemaError("a time split needs the population's decision dates")
        return _time_split(policy, dates)
    return _random_split(policy, y, stratify=stratify)


def _time_split(policy: SplitPolicy, dates: np.ndarray) -> Split:
    order = np.argsort(dates, kind="stable")
    held = np.zeros(dates.size, dtype=bool)
    if dates.size and (policy.backtest_months or policy.backtest_days):
        last = dates.max()
        if policy.backtest_months:
            start = (last.astype("datetime64[M]") - (policy.backtest_months - 1)).astype(
                "datetime64[D]"
            )
        else:
            start = last - np.timedelta64(policy.backtest_days - 1, "D")
        held = dates >= start
    rest = order[~held[order]]
    n = rest.size
    n_test = round(n * policy.test)
    n_valid = round(n * policy.validation)
    n_train = n - n_test - n_valid
    return Split(
        train=np.sort(rest[:n_train]),
        validation=np.sort(rest[n_train : n_train + n_valid]),
        test=np.sort(rest[n_train + n_valid :]),
        backtest=np.flatnonzero(held),
        policy="time",
    )


def _random_split(policy: SplitPolicy, y: np.ndarray, *, stratify: bool = True) -> Split:
    rng = np.random.default_rng(policy.seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    strata = [y == label for label in np.unique(y)] if stratify else [np.ones(y.size, bool)]
    for members in strata:
        rows = rng.permutation(np.flatnonzero(members))
        n_test = round(rows.size * policy.test)
        n_valid = round(rows.size * policy.validation)
        parts["test"].append(rows[:n_test])
        parts["validation"].append(rows[n_test : n_test + n_valid])
        parts["train"].append(rows[n_test + n_valid :])
    joined = {k: np.sort(np.concatenate(v)) if v else np.empty(0, int) for k, v in parts.items()}
    return Split(joined["train"], joined["validation"], joined["test"], np.empty(0, int), "random")
