"""Arrow columns as numpy arrays the feature builders compute on.

Numbers become float64 with NaN for missing, dates datetime64[D] with NaT, strings an
object array with None. One conversion, used at training and at scoring alike.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["as_days", "as_float", "as_text", "is_categorical", "is_date", "take_by_key"]


def is_date(kind: pa.DataType) -> bool:
    return bool(pa.types.is_date(kind) or pa.types.is_timestamp(kind))


def is_categorical(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)
    )


def as_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Numbers and booleans as float64, missing as NaN."""
    if is_date(column.type) or is_categorical(column.type):
        raise TypeError(f"a {column.type} column is not numeric")
    as_double = pc.cast(column, pa.float64())
    return np.array(as_double.to_numpy(zero_copy_only=False), dtype=np.float64)  # writable


def as_days(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Dates and timestamps as datetime64[D], missing as NaT."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.date32())
    if not pa.types.is_date(column.type):
        raise TypeError(f"a {column.type} column is not a date")
    days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
    values = days.to_numpy(zero_copy_only=False)
    out = np.asarray(np.nan_to_num(values.astype(np.float64), nan=0), dtype="int64")
    result = out.astype("datetime64[D]")
    mask = np.asarray(pc.is_null(days).to_numpy(zero_copy_only=False), dtype=bool)
    result[mask] = np.datetime64("NaT")
    return result


def as_text(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Any column as an object array of strings, missing as None."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string())
    if not is_categorical(column.type):
        column = pc.cast(column, pa.string())
    return np.asarray(column.to_pylist(), dtype=object)


def take_by_key(table: pa.Table, key: str, wanted: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The rows of ``table`` whose ``key`` equals each of ``wanted``, in order; nulls if absent.

    ``table`` must have unique keys (source schemas declare them as primary keys).
    """
    probe = pc.cast(wanted, table.schema.field(key).type)
    index = pc.index_in(probe, value_set=table.column(key))
    return table.take(index)
