"""Entity keys for ``appliance.features.windows`` (its only importer, lazily).

Dense codes for the events' keys, and lookups for the queries' keys.

Keys are integers or strings, as numpy arrays (int, fixed-width str, or object with
None for missing) or pyarrow arrays (what the lake gives, read without copying).
Histories usually arrive grouped by entity, so consecutive repeats are collapsed
first and only one key per run is hashed. Integer keys are looked up with
``np.searchsorted`` on the sorted keys; string keys by hashing (pyarrow
``index_in``), which beats a binary search that compares strings several times over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.features.windows import FeatureInputError

__all__ = ["EncodedKeys", "encode", "lookup"]


@dataclass(frozen=True, eq=False)
class EncodedKeys:
    codes: np.ndarray  # int64 per event: rank of its key among ``keys``, -1 when missing
    keys: np.ndarray  # sorted unique keys: int64, or an object array of str
    key_set: Any  # string keys as a pyarrow array, for hashed lookups; None for integers


def encode(entity_keys: Any) -> EncodedKeys:
    """Dense codes, in sorted key order, for every event's entity key."""
    import pyarrow as pa
    import pyarrow.compute as pc

    runs, values = _runs(entity_keys)
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(order) + 1, np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # missing keys
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    codes = np.repeat(rank[indices], runs)
    ordered = dictionary.take(pa.array(order))
    if pa.types.is_string(dictionary.type):
        return EncodedKeys(codes, ordered.to_numpy(zero_copy_only=False), ordered)
    return EncodedKeys(codes, ordered.to_numpy().astype(np.int64), None)


def lookup(encoded_keys: np.ndarray, key_set: Any, probe: Any) -> np.ndarray:
    """Index of each probe key among the sorted ``encoded_keys`` (int64), -1 if absent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if key_set is not None:
        arrow = _as_arrow(probe, "query keys")
        if pa.types.is_integer(arrow.type) and arrow.null_count < len(arrow):
            raise FeatureInputError("query keys must be strings, like the history's entity keys")
        found = pc.index_in(arrow.cast(pa.string()), value_set=key_set)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if isinstance(probe, np.ndarray) and probe.dtype.kind in "iu":
        values, missing = probe.astype(np.int64), np.zeros(len(probe), bool)
    else:
        arrow = _as_arrow(probe, "query keys")
        if pa.types.is_string(arrow.type):
            raise FeatureInputError("query keys must be integers, like the history's entity keys")
        missing = arrow.is_null().to_numpy(zero_copy_only=False)
        values = arrow.fill_null(0).to_numpy().astype(np.int64)
    if len(encoded_keys) == 0:
        return np.full(len(values), -1, np.int64)
    at = np.minimum(np.searchsorted(encoded_keys, values), len(encoded_keys) - 1)
    return np.where((encoded_keys[at] == values) & ~missing, at, -1).astype(np.int64)


def _runs(entity_keys: Any) -> tuple[np.ndarray, Any]:
    """The length of each run of equal keys, and its key (a pyarrow array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(entity_keys, pa.Array | pa.ChunkedArray):
        keys = _as_arrow(entity_keys, "entity keys")
        n = len(keys)
        if n > 1:
            differ = pc.fill_null(pc.not_equal(keys.slice(1), keys.slice(0, n - 1)), True)
            change = differ.to_numpy(zero_copy_only=False)
        else:
            change = np.empty(0, bool)
        heads = _heads(change, n)
        return np.diff(np.append(heads, n)), keys.take(pa.array(heads))
    array = np.asarray(entity_keys)
    if array.ndim != 1 or array.dtype.kind not in "iuUO":
        raise FeatureInputError(
            "entity keys must be a one-dimensional array of integers or strings; "
            f"got {array.dtype} with shape {array.shape}"
        )
    heads = _heads(array[1:] != array[:-1], len(array))
    return np.diff(np.append(heads, len(array))), _as_arrow(array[heads], "entity keys")


def _heads(change: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return np.empty(0, np.int64)
    return np.flatnonzero(np.concatenate(([True], change)))


def _as_arrow(keys: Any, what: str) -> Any:
    """Keys as a pyarrow array of int64 or string (missing as null)."""
    import pyarrow as pa

    try:
        if isinstance(keys, pa.ChunkedArray):
            arrow = keys.combine_chunks()
        elif isinstance(keys, pa.Array):
            arrow = keys
        else:
            array = np.asarray(keys)
            if array.ndim != 1:
                raise FeatureInputError(f"{what} must be one-dimensional; got shape {array.shape}")
            arrow = pa.array(array)
        if pa.types.is_dictionary(arrow.type):
            arrow = arrow.dictionary_decode()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FeatureInputError(f"{what} must be all integers or all strings: {exc}") from exc
    if pa.types.is_null(arrow.type) or pa.types.is_integer(arrow.type):
        return arrow.cast(pa.int64())
    if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
        return arrow.cast(pa.string())
    raise FeatureInputError(f"{what} must be integers or strings; got {arrow.type}")
