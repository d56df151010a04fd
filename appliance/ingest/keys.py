"""Primary-key uniqueness across a streamed file and the rows already in the lake.

Each key is reduced to a 64-bit hash with vectorised numpy over Arrow's buffers, and
the hashes seen so far are kept as a few sorted runs that merge as they grow (a small
log-structured set): 8 bytes a key, O(n log n) overall, and no per-row Python. Two
different keys sharing a 64-bit hash would quarantine the later row as a duplicate
(about 1 in 10^7 for 10^6 keys); it is never lost, and the quarantine reason names it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeySet", "hash_keys"]

_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash_text(column: pa.Array) -> np.ndarray:
    """A polynomial hash of each value's UTF-8 bytes, plus its length, then mixed."""
    text = pa.concat_arrays([column])  # drop any slice offset so buffers start at row 0
    _, offset_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32, count=len(text) + 1).astype(np.int64)
    lengths = np.diff(offsets)
    data = np.frombuffer(data_buf, dtype=np.uint8)[: offsets[-1]] if data_buf else np.zeros(0)
    hashes = lengths.astype(np.uint64) * _GOLDEN
    if not len(data):
        return _mix(hashes)
    powers = np.cumprod(np.full(int(lengths.max()), _PRIME, dtype=np.uint64))
    if lengths.min() == lengths.max():  # fixed-width codes: one matrix pass
        width = int(lengths[0])
        terms = (data.reshape(len(text), width).astype(np.uint64) + np.uint64(1)) * powers
        return _mix(hashes + terms.sum(axis=1, dtype=np.uint64))
    row = np.repeat(np.arange(len(text)), lengths)
    position = np.arange(len(data)) - offsets[row]
    terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
    filled = lengths > 0
    hashes[filled] += np.add.reduceat(terms, offsets[:-1][filled])
    return _mix(hashes)


def hash_keys(columns: list[pa.Array]) -> np.ndarray:
    """One uint64 per row over the given (non-null) key columns."""
    combined = np.zeros(len(columns[0]), dtype=np.uint64)
    for column in columns:
        if pa.types.is_temporal(column.type):  # dates and times hash by their stored integer
            column = column.view(pa.int32() if column.type.bit_width == 32 else pa.int64())
        if pa.types.is_integer(column.type):
            ints = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
            part = _mix(ints.astype(np.int64).view(np.uint64) + _GOLDEN)
        else:
            text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
            part = _hash_text(text)
        combined = _mix(combined * _PRIME + part)
    return combined


class KeySet:
    """The key hashes seen so far; ``add`` reports which rows were seen before."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []  # sorted, disjoint, sizes decreasing

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def add(self, columns: list[pa.Array]) -> np.ndarray:
        """Insert the rows' keys; returns a bool array, True where the key was already
        seen (earlier in this call or before)."""
        return self.add_hashes(hash_keys(columns))

    def add_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """``add`` for keys already hashed with ``hash_keys`` (e.g. on another thread)."""
        unique, first = np.unique(hashes, return_index=True)
        duplicate = np.ones(len(hashes), dtype=bool)
        duplicate[first] = False
        seen = np.zeros(len(unique), dtype=bool)
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, unique), len(run) - 1)
            seen |= run[at] == unique
        duplicate[first[seen]] = True
        self._push(unique[~seen])
        return duplicate

    def _push(self, run: np.ndarray) -> None:
        if not len(run):
            return
        self._runs.append(run)
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            merged = np.concatenate(self._runs[-2:])
            del self._runs[-2:]  # free the two runs before sorting: peak ~2x the keys, not 3x
            merged.sort(kind="stable")  # timsort: a linear merge of two sorted runs
            self._runs.append(merged)
