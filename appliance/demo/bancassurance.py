"""Bancassurance propensity: customers, product holdings, monthly interactions, offers.

Sizes: ``rows`` bank customers (ids ``BK...``, the card holders of the fraud file);
about 2.3 product holdings each; up to 18 monthly interaction rows each (2024-01 ..
2025-06; months without any contact, login or complaint have no row), about
``17.5 * rows`` in all; an insurance offer to about 60 % of customers, dated
2024-10-01 .. 2025-06-30. ``age`` and ``tenure_months`` are as of 2025-06-30.

``converted`` (about 12 %) follows a logistic model of: the products held on the offer
date (mortgage, credit card, investment fund, how many), digital logins and
complaints in the 6 months before the offer month, age (35-55 convert more), income
band and segment, plus noise. Holdings acquired after the offer, and interactions
after it, carry no signal: features must be point-in-time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from appliance.demo import csv_writing as cw
from appliance.demo.credit import INCOME_BANDS
from appliance.demo.regions import REGION_IDS, REGIONS

__all__ = ["CHANNELS", "PRODUCTS", "SEGMENTS", "write_bancassurance"]

SNAPSHOT = np.datetime64("2025-06-30")
MONTHS = np.datetime64("2024-01", "M") + np.arange(18)
OFFER_START, OFFER_DAYS = np.datetime64("2024-10-01"), 273
SEGMENTS = ("mass_retail", "digital", "affluent", "private", "small_business")
CHANNELS = ("app", "internet_banking", "branch", "call_center")
# product, base log-odds, per income band, bonus for ages 30-55
PRODUCTS = (
    "checking_account",
    "savings",
    "credit_card",
    "payroll_loan",
    "personal_loan",
    "mortgage",
    "auto_loan",
    "investment_fund",
    "pension_plan",
)
_PRODUCT_LOGIT = np.array(
    [
        [3.0, 0.0, 0.0],
        [-0.6, 0.15, 0.0],
        [-0.2, 0.45, 0.2],
        [-1.9, -0.1, 0.3],
        [-1.6, 0.0, 0.2],
        [-3.6, 0.5, 0.9],
        [-2.8, 0.3, 0.4],
        [-3.0, 0.7, 0.3],
        [-3.2, 0.5, 0.6],
    ]
)
CHUNK = 50_000
_TAG = 3
_INTERCEPT = -4.1
CUSTOMERS = ("customer_id", "age", "income_band", "region", "segment", "tenure_months")
HOLDINGS = ("customer_id", "product", "since_date")
INTERACTIONS = ("customer_id", "month", "channel", "n_contacts", "digital_logins", "complaints")
CONVERSIONS = ("customer_id", "offer_date", "converted", "annual_premium")
FILES = (
    "bank_customers.csv",
    "bank_product_holdings.csv",
    "bank_interactions.csv",
    "bank_insurance_conversion.csv",
)


def write_bancassurance(out_dir: Path, rows: int, seed: int) -> list[tuple[Path, int]]:
    """Write the four bancassurance files for ``rows`` customers; (path, rows) per file."""
    files = [
        cw.CsvFile(out_dir / name, header)
        for name, header in zip(
            FILES, (CUSTOMERS, HOLDINGS, INTERACTIONS, CONVERSIONS), strict=True
        )
    ]
    with files[0], files[1], files[2], files[3]:
        for chunk, first in enumerate(range(0, rows, CHUNK)):
            rng = np.random.default_rng([seed, _TAG, chunk])
            _write_chunk(files, rng, first, min(CHUNK, rows - first))
    return [(f.path, f.rows) for f in files]


def _write_chunk(files: list[cw.CsvFile], rng: np.random.Generator, first: int, n: int) -> None:
    number = np.arange(first, first + n) + 1
    age = np.clip(rng.normal(44, 14, n), 18, 90).astype(np.int64)
    income = rng.choice(len(INCOME_BANDS), n, p=[0.2, 0.3, 0.27, 0.15, 0.08])
    segment = _segments(rng, age, income)
    tenure = np.minimum(1 + rng.exponential(70, n), 12 * (age - 17)).astype(np.int64)
    files[0].write(
        [
            cw.numbers(number, 7, "BK"),
            cw.numbers(age),
            cw.lookup(INCOME_BANDS, income),
            cw.lookup(REGION_IDS, rng.choice(len(REGIONS), n, p=[r.weight for r in REGIONS])),
            cw.lookup(SEGMENTS, segment),
            cw.numbers(tenure),
        ]
    )
    holds, since = _holdings(rng, age, income, tenure)
    who, what = np.nonzero(holds)
    files[1].write(
        [
            cw.numbers(number[who], 7, "BK"),
            cw.lookup(PRODUCTS, what),
            cw.iso_dates(since[who, what]),
        ]
    )
    activity = _interactions(rng, files[2], number, age, segment)
    files[3].write(_conversions(rng, number, age, income, segment, holds, since, activity))


def _conversions(
    rng: np.random.Generator,
    number: np.ndarray,
    age: np.ndarray,
    income: np.ndarray,
    segment: np.ndarray,
    holds: np.ndarray,
    since: np.ndarray,
    activity: tuple[np.ndarray, ...],
) -> list[pa.Array]:
    """Offers to ~60 % of customers and whether each converted, from point-in-time signals."""
    n = len(number)
    logins, contacts, complaints = activity
    offered = rng.random(n) < 0.6
    offer = OFFER_START + rng.integers(0, OFFER_DAYS, n).astype("timedelta64[D]")
    held = holds & (since < offer[:, None])
    window = _months_before(offer, 6)
    logit = (
        _INTERCEPT
        + held[:, [2, 5, 7]] @ np.array([0.4, 0.7, 0.6])
        + 0.2 * held.sum(1)
        + 0.35 * np.log1p((logins * window).sum(1) / 6)
        - 0.7 * (complaints * window).sum(1)
        - 0.1 * np.log1p((contacts * window).sum(1))
        + 0.5 * ((age >= 35) & (age <= 55))
        + 0.25 * income
        + 0.3 * (segment == 2)
        + rng.normal(0, 0.5, n)
    )
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    # the premium taken grows with income and with the products the customer already holds
    cover = 60_000 + 40_000 * income + 12_000 * held.sum(1)
    premium = np.round(cover * rng.lognormal(0, 0.3, n)).astype(np.int64)
    return [
        cw.numbers(number[offered], 7, "BK"),
        cw.iso_dates(offer[offered]),
        cw.lookup(("0", "1"), converted[offered]),
        cw.where_empty(~converted[offered], cw.money(premium[offered])),
    ]


def _segments(rng: np.random.Generator, age: np.ndarray, income: np.ndarray) -> np.ndarray:
    segment = np.where(age < 35, 1, 0)
    segment = np.where(income >= 3, 2, segment)
    segment = np.where((income == 4) & (rng.random(len(age)) < 0.35), 3, segment)
    return np.where(rng.random(len(age)) < 0.08, 4, segment)


def _holdings(
    rng: np.random.Generator, age: np.ndarray, income: np.ndarray, tenure: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which products each customer holds, and since when (between joining and the snapshot)."""
    prime = ((age >= 30) & (age <= 55)).astype(float)
    logit = (
        _PRODUCT_LOGIT[:, 0]
        + np.outer(income - 2, _PRODUCT_LOGIT[:, 1])
        + np.outer(prime, _PRODUCT_LOGIT[:, 2])
    )
    holds = rng.random(logit.shape) < 1 / (1 + np.exp(-logit))
    holds[:, 0] |= ~holds.any(1)  # every customer has at least a checking account
    joined = SNAPSHOT - (tenure * 30.44).astype("timedelta64[D]")
    span = (SNAPSHOT - joined).astype(np.int64)
    offset = np.floor(rng.random(logit.shape) * span[:, None]).astype(np.int64)
    offset[:, 0] = 0  # the checking account is opened on joining
    return holds, joined[:, None] + offset.astype("timedelta64[D]")


def _interactions(
    rng: np.random.Generator,
    out: cw.CsvFile,
    number: np.ndarray,
    age: np.ndarray,
    segment: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Write one row per customer-month with any activity; return the monthly counts."""
    n, m = len(age), len(MONTHS)
    digital = np.exp(1.8 - 0.03 * (age - 40) + 0.5 * (segment == 1) + rng.normal(0, 0.6, n))
    seasonal = rng.lognormal(0, 0.3, (n, m))
    logins = rng.poisson(digital[:, None] * seasonal)
    contacts = rng.poisson(np.full((n, m), 0.4) + 0.01 * np.clip(age - 40, 0, None)[:, None])
    complaints = rng.poisson(np.exp(rng.normal(-3.6, 0.8, n))[:, None] * np.ones((1, m)))
    web = rng.random(n) < 0.3
    phone = rng.random(n) < 0.4
    channel = np.where(
        logins >= 3 * contacts, np.where(web, 1, 0)[:, None], np.where(phone, 3, 2)[:, None]
    )
    active = (logins + contacts + complaints) > 0
    who, when = np.nonzero(active)
    out.write(
        [
            cw.numbers(number[who], 7, "BK"),
            cw.iso_dates(MONTHS.astype("datetime64[D]")[when]),
            cw.lookup(CHANNELS, channel[who, when]),
            cw.numbers(contacts[who, when]),
            cw.numbers(logins[who, when]),
            cw.numbers(complaints[who, when]),
        ]
    )
    return logins, contacts, complaints


def _months_before(day: np.ndarray, window: int) -> np.ndarray:
    """Mask over MONTHS: the ``window`` months strictly before each day's month."""
    gap = day.astype("datetime64[M]")[:, None] - MONTHS[None, :]
    gap = gap.astype(np.int64)
    return ((gap >= 1) & (gap <= window)).astype(float)
