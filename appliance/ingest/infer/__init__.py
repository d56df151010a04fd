"""Drafting a source schema from a sample of a CSV file the appliance has never seen.

Pure functions: bytes or rows of strings in, dataclasses out; nothing here reads a file
(``appliance sources infer`` reads the sample, ``render.render_draft`` writes the
TOML). Guesses are conservative, because a draft must not quarantine valid data it has
not seen: no bounds, no allowed lists, no required columns. A type is still chosen when
fewer than 1 % of the sampled values do not fit it (a few broken rows are normal).
"""

from appliance.ingest.infer.columns import ColumnGuess, guess_column
from appliance.ingest.infer.draft import SchemaDraft, infer_schema
from appliance.ingest.infer.sample import (
    Decoded,
    Dialect,
    InferError,
    decode_sample,
    inbox_pattern,
    parse_records,
    snake_names,
    sniff_dialect,
)

__all__ = [
    "ColumnGuess",
    "Decoded",
    "Dialect",
    "InferError",
    "SchemaDraft",
    "decode_sample",
    "guess_column",
    "inbox_pattern",
    "infer_schema",
    "parse_records",
    "snake_names",
    "sniff_dialect",
]
