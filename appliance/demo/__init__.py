"""Deterministic demo data: the raw files a bank would drop into the inbox.

Three use cases, eight CSV files, each described by a source schema shipped in
``appliance/defaults/sources/`` (same name, ``.toml``):

| use case | files | rows, for ``rows`` = N |
|---|---|---|
| credit scoring with alternative data | ``credit_customers.csv`` | N |
| | ``credit_phone_bills.csv`` (24 months each) | 24 N |
| | ``credit_applications.csv`` (one each) | N |
| card fraud | ``fraud_transactions.csv`` | 10 N (``FRAUD_PER_CUSTOMER``) |
| bancassurance propensity | ``bank_customers.csv`` | N |
| | ``bank_product_holdings.csv`` | ~2.3 N |
| | ``bank_interactions.csv`` (18 months) | ~17.5 N |
| | ``bank_insurance_conversion.csv`` (offers) | ~0.6 N |
| regional flood/drought imagery | ``tiles/<region>_<YYYY-MM-DD>.tif`` (GeoTIFF) | ~1,150, any N |

The same ``rows`` and ``seed`` always give byte-identical files; all share one fixed
regional flood/drought calendar (``appliance.demo.regions``). Each generator's module
docstring says how its outcome is drawn and which drift or data-quality traps it
carries. numpy and pyarrow are imported only when ``generate`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["DEFAULT_ROWS", "FILES", "FRAUD_PER_CUSTOMER", "generate"]

DEFAULT_ROWS = 20_000
FRAUD_PER_CUSTOMER = 10
FILES = (
    "credit_customers.csv",
    "credit_phone_bills.csv",
    "credit_applications.csv",
    "fraud_transactions.csv",
    "bank_customers.csv",
    "bank_product_holdings.csv",
    "bank_interactions.csv",
    "bank_insurance_conversion.csv",
)


def generate(
    out_dir: Path,
    rows: int = DEFAULT_ROWS,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every demo file into ``out_dir`` (created if missing); returns the paths.

    ``rows`` is the number of customers for credit and bancassurance; the fraud file
    has ``FRAUD_PER_CUSTOMER * rows`` transactions. ``progress`` receives one line per
    file written, naming it and its row count.
    """
    from appliance.demo.bancassurance import write_bancassurance
    from appliance.demo.credit import write_credit
    from appliance.demo.fraud import write_fraud
    from appliance.demo.tiles import write_tiles

    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a positive integer, not {rows!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, int]] = []
    for step in (
        lambda: write_credit(out_dir, rows, seed),
        lambda: [write_fraud(out_dir, FRAUD_PER_CUSTOMER * rows, rows, seed)],
        lambda: write_bancassurance(out_dir, rows, seed),
    ):
        for path, count in step():
            written.append((path, count))
            if progress is not None:
                progress(f"{path.name}: {count:,} rows")
    write_tiles(out_dir / "tiles", seed)  # satellite tiles: not in FILES, no progress line
    return [path for path, _ in written]
