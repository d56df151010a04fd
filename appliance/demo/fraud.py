"""Card fraud: one messy, Portuguese-style card-system export of transactions.

Sizes: ``10 * rows`` transactions over 2025-04-01 .. 2025-06-30 (file in time order),
by ``rows`` card holders (the bancassurance ``bank_customers``, ids ``BK...``). The
last 7 days (2025-06-24 .. 2025-06-30) are meant to be held out for backtesting.

The file looks like a real export: ``;``-delimited, accented headers, dates as
``dd/mm/yyyy``, a separate ``HH:MM:SS`` time, amounts like ``1.234,56``, accented
category labels of which 3 % carry a stray leading or trailing space and 4 % come in
decomposed Unicode (NFD), a quoted ``os:android;trusted:sim;app_version:5.2`` device
column, ``S``/``N`` for card present, ISO country codes.

``is_fraud`` (about 3 %) follows a logistic model of the amount, night hours
(00:00-05:59), an untrusted device, the merchant category, a foreign country and a
card-not-present purchase.

Deliberately bad rows, for quarantine: in every full block of 1,000 rows exactly one
row (at a seeded position) is broken, so a file has ``floor(n / 1000)`` of them
(0.1 %): in even blocks the amount gets a trailing ``x`` (``12,34x``), in odd blocks
the date is impossible (``31/02/2025`` and the like).

Generated and written in chunks of 200,000 rows, so memory stays bounded at any size.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from appliance.demo import csv_writing as cw

__all__ = ["BACKTEST_START", "CATEGORIES", "COUNTRIES", "HEADER", "PERIOD_START", "write_fraud"]

PERIOD_START = np.datetime64("2025-04-01")
PERIOD_DAYS = 91
BACKTEST_START = np.datetime64("2025-06-24")
CHUNK = 200_000
BAD_EVERY = 1_000
_TAG = 2
HEADER = (
    "ID Transação",
    "Data Transação",
    "Hora",
    "Valor (R$)",
    "Categoria Estabelecimento",
    "Dispositivo",
    "Cartão Presente",
    "País",
    "ID Cliente",
    "Fraude",
)
# label, share of transactions, median amount (R$), fraud log-odds, share card-present
_CATEGORY_TABLE = (
    ("Alimentação", 0.16, 45, -0.3, 0.8),
    ("Supermercado", 0.18, 120, -0.6, 0.9),
    ("Eletrônicos", 0.07, 900, 1.1, 0.35),
    ("Farmácia", 0.10, 60, -0.4, 0.85),
    ("Viagens e Turismo", 0.05, 1_400, 0.9, 0.15),
    ("Serviços", 0.12, 150, 0.0, 0.4),
    ("Combustível", 0.10, 180, -0.2, 0.95),
    ("Vestuário", 0.09, 160, 0.2, 0.6),
    ("Entretenimento", 0.08, 70, 0.3, 0.3),
    ("Jogos e Apostas", 0.05, 200, 1.2, 0.05),
)
CATEGORIES = tuple(row[0] for row in _CATEGORY_TABLE)
COUNTRIES = ("BR", "AR", "UY", "PY", "PT", "US", "CN", "NG")
_COUNTRY_P = (0.94, 0.015, 0.01, 0.008, 0.009, 0.01, 0.004, 0.004)
_OS = ("android", "ios", "web")
_VERSIONS = ("5.0", "5.1", "5.2", "6.0")
_HOUR_P = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 5, 6, 7, 7.5, 8, 7.5, 7, 7, 7, 7.5, 8, 8, 7, 5, 3.5, 2],
    float,
)
_BAD_DATES = ("31/02/2025", "30/02/2025", "31/04/2025", "00/05/2025", "15/13/2025")
_INTERCEPT = -5.15


def write_fraud(out_dir: Path, transactions: int, customers: int, seed: int) -> tuple[Path, int]:
    """Write ``fraud_transactions.csv``; returns its path and row count."""
    tables = _tables()
    with cw.CsvFile(out_dir / "fraud_transactions.csv", HEADER, delimiter=";") as out:
        for chunk, first in enumerate(range(0, transactions, CHUNK)):
            rng = np.random.default_rng([seed, _TAG, chunk])
            n = min(CHUNK, transactions - first)
            out.write(_chunk(rng, tables, first, n, transactions, customers))
    return out.path, out.rows


def _tables() -> dict[str, list[str]]:
    """Small lookup tables of every text a column can hold, formatted once."""
    days = PERIOD_START + np.arange(PERIOD_DAYS)
    variants = [
        v for c in CATEGORIES for v in (c, f" {c}", f"{c} ", unicodedata.normalize("NFD", c))
    ]
    return {
        "dates": [f"{d.item():%d/%m/%Y}" for d in days],
        "times": [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)],
        "categories": variants,
        "devices": [
            f'"os:{o};trusted:{t};app_version:{v}"'
            for o in _OS
            for t in ("sim", "não")
            for v in _VERSIONS
        ],
    }


def _chunk(
    rng: np.random.Generator,
    tables: dict[str, list[str]],
    first: int,
    n: int,
    total: int,
    customers: int,
) -> list[pa.Array]:
    day, second = _timestamps(rng, first, n, total)
    cat = rng.choice(len(CATEGORIES), n, p=[row[1] for row in _CATEGORY_TABLE])
    median = np.array([row[2] for row in _CATEGORY_TABLE], float)[cat]
    cents = np.clip(np.round(median * rng.lognormal(0, 0.9, n) * 100), 100, 4_999_999)
    present = rng.random(n) < np.array([row[4] for row in _CATEGORY_TABLE])[cat]
    os_ = rng.choice(3, n, p=[0.55, 0.30, 0.15])
    trusted = rng.random(n) < 0.88
    version = rng.choice(4, n, p=[0.1, 0.2, 0.4, 0.3])
    country = rng.choice(len(COUNTRIES), n, p=_COUNTRY_P)
    logit = (
        _INTERCEPT
        + 0.55 * np.log(cents / 15_000)
        + 1.3 * (second < 6 * 3600)
        + 1.5 * ~trusted
        + np.array([row[3] for row in _CATEGORY_TABLE])[cat]
        + 1.7 * (country > 0)
        + 0.7 * ~present
        + rng.normal(0, 0.4, n)
    )
    fraud = rng.random(n) < 1 / (1 + np.exp(-logit))
    variant = np.searchsorted(np.cumsum([0.90, 0.015, 0.015, 0.04]), rng.random(n), "right")
    bad_amount, bad_date = _bad_rows(rng, first, n)
    amount = cw.money(cents.astype(np.int64), decimal=",", thousands=".")
    date = cw.lookup(tables["dates"], day)
    return [
        cw.numbers(np.arange(first, first + n) + 1, 10, "TX"),
        pc.if_else(pa.array(bad_date), cw.lookup(_BAD_DATES, rng.integers(0, 5, n)), date),
        cw.lookup(tables["times"], second),
        pc.if_else(pa.array(bad_amount), pc.binary_join_element_wise(amount, "x", ""), amount),
        cw.lookup(tables["categories"], cat * 4 + np.minimum(variant, 3)),
        cw.lookup(tables["devices"], os_ * 8 + (~trusted) * 4 + version),
        cw.lookup(("N", "S"), present),
        cw.lookup(COUNTRIES, country),
        cw.numbers(rng.integers(1, customers + 1, n), 7, "BK"),
        cw.lookup(("0", "1"), fraud),
    ]


def _timestamps(
    rng: np.random.Generator, first: int, n: int, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day index and second of day, in time order; chunk k covers its share of the period."""
    low, high = first / total * PERIOD_DAYS, (first + n) / total * PERIOD_DAYS
    day = np.minimum(np.floor(low + rng.random(n) * (high - low)), PERIOD_DAYS - 1)
    hour = rng.choice(24, n, p=_HOUR_P / _HOUR_P.sum())
    second = hour * 3600 + rng.integers(0, 3600, n)
    order = np.argsort(day * 86_400 + second, kind="stable")
    return day[order].astype(np.int64), second[order]


def _bad_rows(rng: np.random.Generator, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One broken row per full block of BAD_EVERY rows: amount in even blocks, date in odd."""
    bad_amount, bad_date = np.zeros(n, bool), np.zeros(n, bool)
    blocks = np.arange(first // BAD_EVERY, (first + n) // BAD_EVERY)
    rows = blocks * BAD_EVERY + rng.integers(0, BAD_EVERY, len(blocks)) - first
    bad_amount[rows[blocks % 2 == 0]] = True
    bad_date[rows[blocks % 2 == 1]] = True
    return bad_amount, bad_date
