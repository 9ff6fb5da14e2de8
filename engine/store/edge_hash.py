"""Open-addressing hash table int64 -> int64 for Numba kernels (linear probing, no tombstones).

Keys are non-negative; ``EMPTY`` (-1) marks a free slot. Deletion shifts later entries of the
probe run back, so lookups never walk over tombstones. The table lives in two arrays so compiled
kernels can use it directly; :class:`HashTable` owns them and grows them between kernel calls.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = ["EMPTY", "MAX_LOAD", "HashTable", "hash_delete", "hash_find", "hash_insert", "mix64"]

EMPTY = -1
MAX_LOAD = 0.8  # most keys per slot; linear probing stays short below it


@nb.njit(cache=True, nogil=True, inline="always")
def mix64(x: np.uint64) -> np.uint64:
    """SplitMix64 finalizer: a bijective 64-bit mixer."""
    z = np.uint64(x)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, nogil=True, inline="always")
def _home(key: int, capacity: int) -> int:
    # Lemire's multiply-shift range reduction of the mixed key's high 32 bits.
    h = mix64(np.uint64(key)) >> np.uint64(32)
    return int(np.int64((h * np.uint64(capacity)) >> np.uint64(32)))


@nb.njit(cache=True, nogil=True)
def hash_find(keys: NDArray[np.int64], key: int) -> int:
    """Slot holding ``key``, or -1."""
    cap = keys.shape[0]
    i = _home(key, cap)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i += 1
        if i == cap:
            i = 0


@nb.njit(cache=True, nogil=True)
def hash_insert(keys: NDArray[np.int64], vals: NDArray[np.int64], key: int, val: int) -> bool:
    """Insert or overwrite; returns True when the key was new. The caller keeps load < 1."""
    cap = keys.shape[0]
    i = _home(key, cap)
    while True:
        k = keys[i]
        if k == key:
            vals[i] = val
            return False
        if k == EMPTY:
            keys[i] = key
            vals[i] = val
            return True
        i += 1
        if i == cap:
            i = 0


@nb.njit(cache=True, nogil=True)
def hash_delete(keys: NDArray[np.int64], vals: NDArray[np.int64], slot: int) -> None:
    """Free ``slot`` and shift back the rest of its probe run (no tombstones)."""
    cap = keys.shape[0]
    hole = slot
    j = slot
    while True:
        j += 1
        if j == cap:
            j = 0
        k = keys[j]
        if k == EMPTY:
            break
        home = _home(k, cap)
        # Move k into the hole unless its home lies cyclically in (hole, j].
        if (j > hole and (home <= hole or home > j)) or (j < hole and home <= hole and home > j):
            keys[hole] = k
            vals[hole] = vals[j]
            hole = j
    keys[hole] = EMPTY
    vals[hole] = 0


@nb.njit(cache=True, nogil=True)
def _rehash(
    old_keys: NDArray[np.int64],
    old_vals: NDArray[np.int64],
    keys: NDArray[np.int64],
    vals: NDArray[np.int64],
) -> None:
    for i in range(old_keys.shape[0]):
        if old_keys[i] != EMPTY:
            hash_insert(keys, vals, old_keys[i], old_vals[i])


@nb.njit(cache=True, nogil=True)
def _find_many(keys: NDArray[np.int64], query: NDArray[np.int64]) -> NDArray[np.int64]:
    out = np.empty(query.shape[0], dtype=np.int64)
    for i in range(query.shape[0]):
        out[i] = hash_find(keys, query[i])
    return out


class HashTable:
    """Owner of a table's arrays: sizing, growth and bulk helpers."""

    def __init__(self, expected: int = 0) -> None:
        cap = max(16, int(expected / MAX_LOAD * 1.15) + 1)
        self.keys: NDArray[np.int64] = np.full(cap, EMPTY, dtype=np.int64)
        self.vals: NDArray[np.int64] = np.zeros(cap, dtype=np.int64)
        self.count = 0

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.vals.nbytes)

    def headroom(self) -> int:
        """How many more keys fit before the table must grow."""
        return int(self.capacity * MAX_LOAD) - self.count

    def reserve(self, extra: int) -> None:
        """Grow (rehash) so that ``extra`` more keys fit under the load limit."""
        if self.headroom() >= extra:
            return
        need = self.count + extra
        cap = max(int(need / MAX_LOAD) + 1, self.capacity * 5 // 4)
        keys = np.full(cap, EMPTY, dtype=np.int64)
        vals = np.zeros(cap, dtype=np.int64)
        _rehash(self.keys, self.vals, keys, vals)
        self.keys, self.vals = keys, vals

    def find_many(self, query: NDArray[np.int64]) -> NDArray[np.int64]:
        """Slots of many keys (-1 where absent)."""
        return _find_many(self.keys, np.ascontiguousarray(query, dtype=np.int64))

    def items(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """All (key, value) pairs, in slot order."""
        used = self.keys != EMPTY
        return self.keys[used], self.vals[used]
