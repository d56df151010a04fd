"""Credit scoring with alternative data: customers, 24 months of phone bills, applications.

Sizes: ``rows`` customers; each applies once (``rows`` applications, dated uniformly
over 2024-01-01 .. 2025-06-30) and has 24 monthly phone bills, from 18 months before
the application month to 5 months after it (``24 * rows`` bill rows).

Each customer has a latent reliability that drives late, missed and partial bill
payments; a flood or drought in the customer's region that month makes lateness
likelier. ``defaulted`` (observed 12 months after the application) is drawn from a
logistic model of: missed payments (the first two count most), late (> 5 days) and
partial payments in the 12 bill months strictly before the application month; flood
and drought months in the customer's region over the same 12 months
(``regions.hazard_calendar``), which hurt low-income applicants four times as much;
the income band; the requested amount relative to income, only where it is well above
the usual size; plus noise. The default rate is about 11 %. The saturation, the hinge
and the interaction are what a tree model can learn and a linear scorecard cannot.

Point-in-time trap: bills after the application month reveal the outcome (defaulters
stop paying), so features must only use bills dated before the application.

Drift: applications from 2025-04-01 on (the last 3 months) come from younger
applicants (mean age ~29 instead of ~41), lower income bands, far more often
(30 % instead of 7 %) from the drought-hit ``sertao_pernambucano``, asking for 2.2
times as much relative to income (about 45 % more on average); their default rate is
about twice the earlier one.

``gender`` and ``birth_date`` are for fairness checks only; the outcome does not
depend on gender at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from appliance.demo import csv_writing as cw
from appliance.demo.regions import DROUGHT_HIT, REGION_IDS, REGIONS, HazardCalendar
from appliance.demo.regions import hazard_calendar as _calendar

__all__ = ["APP_END", "APP_START", "INCOME_BANDS", "LATE_START", "write_credit"]

APP_START = np.datetime64("2024-01-01")
APP_END = np.datetime64("2025-06-30")
LATE_START = np.datetime64("2025-04-01")
INCOME_BANDS = ("up_to_2k", "2k_4k", "4k_8k", "8k_15k", "over_15k")
BILL_OFFSETS = np.arange(-18, 6)  # bill months relative to the application month
CHUNK = 50_000
_TAG = 1  # this generator's stream in the seed sequence
_INCOME_P = {False: [0.22, 0.30, 0.26, 0.14, 0.08], True: [0.40, 0.33, 0.17, 0.07, 0.03]}
_AGE = {False: (41.0, 12.0), True: (29.0, 7.0)}
_AMOUNT_MEDIAN = np.array([3_000, 6_000, 12_000, 25_000, 50_000])
_INCOME_LOGIT = np.array([0.55, 0.3, 0.0, -0.35, -0.7])
_INTERCEPT = -5.8
TERMS = np.array([6, 12, 18, 24, 36, 48])

CUSTOMERS = ("customer_id", "birth_date", "gender", "income_band", "region", "tenure_months")
BILLS = (
    "bill_id",
    "customer_id",
    "bill_month",
    "billed_amount",
    "due_date",
    "paid_date",
    "days_late",
    "amount_paid",
)
APPLICATIONS = (
    "application_id",
    "customer_id",
    "application_date",
    "requested_amount",
    "term_months",
    "defaulted",
)
FILES = ("credit_customers.csv", "credit_phone_bills.csv", "credit_applications.csv")
HEADERS = (CUSTOMERS, BILLS, APPLICATIONS)


@dataclass
class _People:
    """One chunk of customers, each with their single application."""

    first: int
    app_date: np.ndarray
    late: np.ndarray
    age: np.ndarray
    income: np.ndarray
    region: np.ndarray
    reliability: np.ndarray
    amount_cents: np.ndarray

    @property
    def n(self) -> int:
        return len(self.app_date)


def write_credit(out_dir: Path, rows: int, seed: int) -> list[tuple[Path, int]]:
    """Write the three credit files for ``rows`` customers; returns (path, rows) per file."""
    calendar = _calendar()
    files = [cw.CsvFile(out_dir / name, head) for name, head in zip(FILES, HEADERS, strict=True)]
    with files[0], files[1], files[2]:
        for chunk, first in enumerate(range(0, rows, CHUNK)):
            rng = np.random.default_rng([seed, _TAG, chunk])
            _write_chunk(files, rng, calendar, first, min(CHUNK, rows - first))
    return [(f.path, f.rows) for f in files]


def _write_chunk(
    files: list[cw.CsvFile], rng: np.random.Generator, calendar: HazardCalendar, first: int, n: int
) -> None:
    people = _draw_people(rng, first, n)
    uniforms = rng.random((6, n, len(BILL_OFFSETS)))
    months = people.app_date.astype("datetime64[M]")[:, None] + BILL_OFFSETS
    flood, drought = calendar.at(people.region[:, None], months)
    hazard = (flood | drought).astype(float)
    base = _bill_outcomes(people.reliability[:, None] - 0.6 * hazard, uniforms)
    defaulted = _defaults(rng, people, base, calendar)
    after = (BILL_OFFSETS >= 1) & defaulted[:, None]
    bills = _bill_outcomes(people.reliability[:, None] - 0.6 * hazard - 2.0 * after, uniforms)
    ids = cw.numbers(np.arange(first, first + n) + 1, 7, "CR")
    files[0].write(_customer_columns(rng, people, ids))
    files[1].write(_bill_columns(rng, people, months, bills))
    files[2].write(
        [
            cw.numbers(np.arange(first, first + n) + 1, 7, "AP"),
            ids,
            cw.iso_dates(people.app_date),
            cw.money(people.amount_cents),
            cw.numbers(rng.choice(TERMS, n, p=[0.1, 0.25, 0.15, 0.25, 0.15, 0.1])),
            cw.numbers(defaulted.astype(np.int64)),
        ]
    )


def _draw_people(rng: np.random.Generator, first: int, n: int) -> _People:
    span = int((APP_END - APP_START).astype(int)) + 1
    app_date = APP_START + rng.integers(0, span, n).astype("timedelta64[D]")
    late = app_date >= LATE_START
    age, income, region = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
    weights = np.array([r.weight for r in REGIONS])
    hit = np.array(REGION_IDS) == DROUGHT_HIT
    shifted = np.where(hit, 0.30, weights * 0.70 / (1 - weights[hit].sum()))
    for flag, region_p in ((False, weights), (True, shifted)):
        mask = late == flag
        k = int(mask.sum())
        mean, sd = _AGE[flag]
        age[mask] = np.clip(rng.normal(mean, sd, k), 18, 80)
        income[mask] = rng.choice(len(INCOME_BANDS), k, p=_INCOME_P[flag])
        region[mask] = rng.choice(len(REGIONS), k, p=region_p)
    reliability = rng.normal(0, 1, n) + 0.15 * (income - 2) + 0.012 * (age - 40)
    amount = _AMOUNT_MEDIAN[income] * rng.lognormal(0, 0.6, n) * np.where(late, 2.2, 1.0)
    amount_cents = np.clip(np.round(amount / 100), 5, 9_999) * 100 * 100
    return _People(
        first, app_date, late, age, income, region, reliability, amount_cents.astype(np.int64)
    )


def _bill_outcomes(z: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Missed / partial / days-late for every bill, from reliability ``z`` and fixed draws."""
    missed = u[0] < _sigmoid(-3.6 - 1.3 * z)
    late = ~missed & (u[1] < _sigmoid(-1.3 - 1.1 * z))
    scale = np.clip(6.0 * np.exp(-0.5 * z), 1, 40)
    days_late = np.where(late, 1 + np.floor(-np.log1p(-u[2]) * scale), 0).astype(np.int64)
    days_late = np.minimum(days_late, 120)
    early = np.where(late | missed, 0, np.floor(u[3] * 8)).astype(np.int64)
    partial = ~missed & (u[4] < _sigmoid(-2.9 - 0.9 * z))
    paid_share = np.where(missed, 0.0, np.where(partial, 0.3 + 0.6 * u[5], 1.0))
    return {
        "missed": missed,
        "days_late": days_late,
        "early": early,
        "partial": partial,
        "paid_share": paid_share,
    }


def _defaults(
    rng: np.random.Generator,
    people: _People,
    bills: dict[str, np.ndarray],
    calendar: HazardCalendar,
) -> np.ndarray:
    before = (BILL_OFFSETS >= -12) & (BILL_OFFSETS <= -1)
    missed = bills["missed"][:, before].sum(1)
    late = (bills["days_late"][:, before] > 5).sum(1)
    partial = bills["partial"][:, before].sum(1)
    flood, drought = calendar.window_counts(people.region, people.app_date.astype("datetime64[M]"))
    burden = np.log(people.amount_cents / 100 / _AMOUNT_MEDIAN[people.income])
    low_income = people.income <= 1
    logit = (
        _INTERCEPT
        + 1.1 * np.minimum(missed, 2)  # the first missed bills say the most
        + 0.22 * late
        + 0.25 * partial
        + 0.3 * (flood + drought) * np.where(low_income, 1.6, 0.4)  # no savings to absorb it
        + _INCOME_LOGIT[people.income]
        + 0.9 * np.maximum(burden - 0.4, 0)  # only a loan well above the usual size hurts
        + rng.normal(0, 0.5, people.n)
    )
    return rng.random(people.n) < _sigmoid(logit)


def _customer_columns(rng: np.random.Generator, people: _People, ids: pa.Array) -> list[pa.Array]:
    days_old = np.floor(people.age * 365.25).astype(np.int64)
    birth = people.app_date - days_old.astype("timedelta64[D]")
    tenure = np.minimum(
        1 + rng.exponential(30, people.n) * (1 + 0.3 * people.reliability.clip(0)), 300
    ).astype(np.int64)
    return [
        ids,
        cw.iso_dates(birth),
        cw.lookup(("F", "M"), rng.integers(0, 2, people.n)),
        cw.lookup(INCOME_BANDS, people.income),
        cw.lookup(REGION_IDS, people.region),
        cw.numbers(tenure),
    ]


def _bill_columns(
    rng: np.random.Generator, people: _People, months: np.ndarray, bills: dict[str, np.ndarray]
) -> list[pa.Array]:
    n, m = months.shape
    plan = (5_000 + 1_500 * people.income) * rng.lognormal(0, 0.35, n)
    billed = np.round(plan[:, None] * rng.uniform(0.85, 1.2, (n, m))).astype(np.int64)
    due_day = rng.choice([5, 10, 15, 20, 25], n)
    due = months.astype("datetime64[D]") + (due_day[:, None] - 1).astype("timedelta64[D]")
    paid = due + (bills["days_late"] - bills["early"]).astype("timedelta64[D]")
    missed = bills["missed"].ravel()
    paid_cents = np.round(billed * bills["paid_share"]).astype(np.int64)
    customer = np.repeat(np.arange(people.first, people.first + n) + 1, m)
    return [
        cw.numbers(np.arange(people.first * m, (people.first + n) * m) + 1, 10, "PB"),
        cw.numbers(customer, 7, "CR"),
        cw.iso_dates(months.astype("datetime64[D]").ravel()),
        cw.money(billed.ravel()),
        cw.iso_dates(due.ravel()),
        cw.where_empty(missed, cw.iso_dates(paid.ravel())),
        cw.where_empty(missed, cw.numbers(bills["days_late"].ravel())),
        cw.money(paid_cents.ravel()),
    ]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
