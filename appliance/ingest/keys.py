"""Primary-key uniqueness across a streamed file and the rows already in the lake.

Each key is reduced to a 64-bit hash by a compiled kernel over Arrow's buffers, and
kept in an open-addressing hash set, so memory is 16 bytes a key (the table stays at
most half full) whatever the key's text. Two different keys sharing a 64-bit hash would
quarantine the later row as a duplicate (about 1 in 10^8 for 10^6 keys); it is never
lost, and the quarantine reason names it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

__all__ = ["KeySet", "hash_keys"]

_EMPTY = np.uint64(0)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True)
def _mix(x: np.uint64) -> np.uint64:  # splitmix64 finaliser
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def _hash_strings(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        h = _FNV_OFFSET
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * _FNV_PRIME
        out[i] = _mix(out[i] ^ _mix(h))


@njit(cache=True)
def _hash_ints(values: np.ndarray, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        out[i] = _mix(out[i] ^ _mix(np.uint64(values[i])))


@njit(cache=True)
def _insert(table: np.ndarray, hashes: np.ndarray, duplicate: np.ndarray) -> int:
    """Insert hashes; mark those already present. Returns how many were new."""
    mask = np.uint64(table.shape[0] - 1)
    added = 0
    for i in range(hashes.shape[0]):
        h = hashes[i]
        if h == _EMPTY:
            h = np.uint64(1)
        slot = h & mask
        while True:
            current = table[slot]
            if current == _EMPTY:
                table[slot] = h
                added += 1
                break
            if current == h:
                duplicate[i] = True
                break
            slot = (slot + np.uint64(1)) & mask
    return added


def hash_keys(columns: list[pa.Array]) -> np.ndarray:
    """One uint64 per row over the given (non-null) key columns."""
    out = np.zeros(len(columns[0]), dtype=np.uint64)
    for column in columns:
        if pa.types.is_temporal(column.type):  # dates and times hash by their stored integer
            column = column.view(pa.int32() if column.type.bit_width == 32 else pa.int64())
        if pa.types.is_integer(column.type):
            ints = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
            _hash_ints(ints.astype(np.int64, copy=False), out)
            continue
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        text = pa.concat_arrays([text])  # drop any slice offset so buffers start at row 0
        _, offset_buf, data_buf = text.buffers()
        offsets = np.frombuffer(offset_buf, dtype=np.int32, count=len(text) + 1)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf else np.zeros(0, np.uint8)
        _hash_strings(offsets, data, out)
    return out


class KeySet:
    """A growing set of key hashes; ``add`` reports which rows were seen before."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        size = 1 << max(4, (capacity * 2 - 1).bit_length())
        self._table = np.zeros(size, dtype=np.uint64)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, columns: list[pa.Array]) -> np.ndarray:
        """Insert the rows' keys; returns a bool array, True where the key was already seen
        (earlier in this call or before)."""
        hashes = hash_keys(columns)
        self._reserve(self._count + len(hashes))
        duplicate = np.zeros(len(hashes), dtype=np.bool_)
        self._count += _insert(self._table, hashes, duplicate)
        return duplicate

    def _reserve(self, count: int) -> None:
        if count * 2 <= self._table.shape[0]:
            return
        old = self._table[self._table != _EMPTY]
        size = self._table.shape[0]
        while count * 2 > size:
            size *= 2
        self._table = np.zeros(size, dtype=np.uint64)
        _insert(self._table, old, np.zeros(len(old), dtype=np.bool_))
