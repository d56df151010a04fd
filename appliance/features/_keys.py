"""Entity keys for ``appliance.features.windows`` (its only importer, lazily).

Dense codes for the events' keys, and lookups for the queries' keys.

Keys are integers or strings, as numpy arrays (int, fixed-width str, or object with
None for missing) or pyarrow arrays (what the lake gives, read without copying).
Histories usually arrive grouped by entity, so consecutive repeats are collapsed
first and only one key per run is sorted (hashed first when there are many runs).
Integer keys are looked up with ``np.searchsorted`` on the sorted keys. String keys
are hashed: the index keeps a hash table of its keys (built once, compiled, over the
Arrow buffers), so a million lookups take ~0.15 s, where pyarrow's ``index_in``
(which rebuilds its table each call) takes ~0.3 s and a binary search comparing numpy
strings 1-2 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.features.windows import FeatureInputError

__all__ = ["EncodedKeys", "encode", "lookup"]

HASH_FIRST = 4_000_000  # more runs than this: hash them before sorting the unique keys


@dataclass(frozen=True, eq=False)
class EncodedKeys:
    run_codes: np.ndarray  # int64 per run of equal keys: the key's rank in ``keys``, -1 missing
    run_lengths: np.ndarray  # int64 events in each run
    keys: Any  # sorted unique keys: an int64 numpy array, or a pyarrow string array
    table: np.ndarray | None  # string keys: their hash table (see lookup); None for integers


def encode(entity_keys: Any) -> EncodedKeys:
    """Dense codes, in sorted key order, for the entity keys of the events, run by run."""
    import pyarrow as pa
    import pyarrow.compute as pc

    runs, heads = _runs(entity_keys)
    if len(heads) > HASH_FIRST:  # mostly repeats out of order: hash down to the unique keys
        encoded = pc.dictionary_encode(heads)
        rank, ordered = _sorted_unique(encoded.dictionary)
        indices = pc.fill_null(encoded.indices, len(rank) - 1).to_numpy(zero_copy_only=False)
        codes = rank[indices]
    else:
        codes, ordered = _sorted_unique(heads)
        codes = codes[:-1]
    if pa.types.is_string(ordered.type):
        from appliance.features import _kernels

        return EncodedKeys(codes, runs, ordered, _kernels.hash_table(*_string_buffers(ordered)))
    return EncodedKeys(codes, runs, ordered.to_numpy().astype(np.int64), None)


def _sorted_unique(values: Any) -> tuple[np.ndarray, Any]:
    """Each value's rank among the sorted unique non-null values (-1 for null; one more
    -1 at the end, for a fill value), and those sorted unique values (pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rank = np.full(len(values) + 1, -1, np.int64)
    if values.null_count == 0 and _strictly_increasing(values):  # grouped in key order
        rank[:-1] = np.arange(len(values))
        return rank, values
    order = pc.sort_indices(values).to_numpy()  # nulls last
    valid = len(values) - values.null_count
    ordered = values.take(pa.array(order[:valid]))
    new = np.ones(valid, bool)
    if valid > 1:
        same = pc.equal(ordered.slice(1), ordered.slice(0, valid - 1))
        new[1:] = ~same.to_numpy(zero_copy_only=False)
    rank[order[:valid]] = np.cumsum(new) - 1
    return rank, ordered if new.all() else ordered.filter(pa.array(new))


def _strictly_increasing(values: Any) -> bool:
    import pyarrow.compute as pc

    if len(values) < 2:
        return True
    before = pc.less(values.slice(0, len(values) - 1), values.slice(1))
    return bool(pc.all(before).as_py())


def lookup(encoded_keys: Any, table: np.ndarray | None, probe: Any) -> np.ndarray:
    """Index of each probe key among the sorted ``encoded_keys`` (int64), -1 if absent.

    ``table``: the string keys' hash table, from ``encode``.
    """
    import pyarrow as pa

    if len(encoded_keys) == 0:  # an empty history: nothing to find, whatever the kind
        return np.full(len(_as_arrow(probe, "query keys")), -1, np.int64)
    if table is not None:  # string keys
        arrow = _as_arrow(probe, "query keys")
        if pa.types.is_integer(arrow.type) and arrow.null_count < len(arrow):
            raise FeatureInputError("query keys must be strings, like the history's entity keys")
        return _hash_lookup(encoded_keys, table, arrow.cast(pa.string()))
    if isinstance(probe, np.ndarray) and probe.dtype.kind in "iu":
        values, missing = probe.astype(np.int64), np.zeros(len(probe), bool)
    else:
        arrow = _as_arrow(probe, "query keys")
        if pa.types.is_string(arrow.type):
            raise FeatureInputError("query keys must be integers, like the history's entity keys")
        missing = arrow.is_null().to_numpy(zero_copy_only=False)
        values = arrow.fill_null(0).to_numpy().astype(np.int64)
    at = np.minimum(np.searchsorted(encoded_keys, values), len(encoded_keys) - 1)
    return np.where((encoded_keys[at] == values) & ~missing, at, -1).astype(np.int64)


def _hash_lookup(keys: Any, table: np.ndarray, probe: Any) -> np.ndarray:
    from appliance.features import _kernels

    valid = np.empty(0, bool)
    if probe.null_count:
        valid = probe.is_valid().to_numpy(zero_copy_only=False)
    found = np.empty(len(probe), np.int64)
    with _kernels.serial_when_small(len(probe)):
        _kernels.hash_lookup(table, *_string_buffers(keys), *_string_buffers(probe), valid, found)
    return found


def _string_buffers(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (int32, one more than strings) and UTF-8 bytes of a pyarrow string array."""
    _, offsets, data = strings.buffers()
    start = strings.offset
    bounds = np.frombuffer(offsets, np.int32)[start : start + len(strings) + 1]
    return bounds, np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)


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
        if pa.types.is_null(arrow.type) or pa.types.is_integer(arrow.type):
            return arrow.cast(pa.int64())
        if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
            return arrow.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FeatureInputError(f"{what} must be all integers or all strings: {exc}") from exc
    raise FeatureInputError(f"{what} must be integers or strings; got {arrow.type}")
