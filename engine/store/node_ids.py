"""External node ids (integers in [0, 2^63)) <-> dense internal indices 0..n-1.

Dense id spaces (the usual case: Matrix Market rows) use a direct lookup array; once the ids
become sparse the map switches to a hash table, so memory stays proportional to the node count.
Dense indices are handed out in order of first appearance, so runs are reproducible.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.store.edge_hash import HashTable, hash_insert

__all__ = ["IdMap"]

_DIRECT_SLACK = 4  # direct mode while max id < 4 * nodes + 4096


@nb.njit(cache=True, nogil=True)
def _first_appearance(ids: NDArray[np.int64], known: NDArray[np.int64]) -> NDArray[np.int64]:
    """Unique unknown ids (known[i] < 0) in order of first appearance."""
    seen: dict[int, int] = {}
    out = np.empty(ids.shape[0], dtype=np.int64)
    k = 0
    for i in range(ids.shape[0]):
        if known[i] < 0 and ids[i] not in seen:
            seen[ids[i]] = k
            out[k] = ids[i]
            k += 1
    return out[:k]


@nb.njit(cache=True, nogil=True)
def _hash_add(
    keys: NDArray[np.int64], vals: NDArray[np.int64], new: NDArray[np.int64], base: int
) -> None:
    for i in range(new.shape[0]):
        hash_insert(keys, vals, new[i], base + i)


class IdMap:
    """Bidirectional node-id map with amortized O(1) batched lookup and insertion."""

    def __init__(self) -> None:
        self.external: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._direct: NDArray[np.int32] | None = np.zeros(0, dtype=np.int32)
        self._hash: HashTable | None = None

    def __len__(self) -> int:
        return int(self.external.shape[0])

    @property
    def nbytes(self) -> int:
        table = self._direct.nbytes if self._direct is not None else 0
        table += self._hash.nbytes if self._hash is not None else 0
        return int(self.external.nbytes + table)

    def lookup(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Dense index of each id, -1 where unknown."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._direct is not None:
            out = np.full(ids.shape[0], -1, dtype=np.int64)
            inside = ids < self._direct.shape[0]
            out[inside] = self._direct[ids[inside]]
            return out
        assert self._hash is not None
        slots = self._hash.find_many(ids)
        return np.where(slots >= 0, self._hash.vals[np.maximum(slots, 0)], -1)

    def add(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Dense index of each id, creating unknown ones in order of first appearance."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        known = self.lookup(ids)
        if (known >= 0).all():
            return known
        new = _first_appearance(ids, known)
        base = len(self)
        if self._direct is not None and new.max() < _DIRECT_SLACK * (base + new.shape[0]) + 4096:
            self._grow_direct(int(new.max()) + 1)
            self._direct[new] = np.arange(base, base + new.shape[0], dtype=np.int32)
        else:
            self._to_hash()
            assert self._hash is not None
            self._hash.reserve(new.shape[0])
            _hash_add(self._hash.keys, self._hash.vals, new, base)
            self._hash.count += int(new.shape[0])
        self.external = np.concatenate([self.external, new])
        return self.lookup(ids)

    def _grow_direct(self, size: int) -> None:
        assert self._direct is not None
        if size <= self._direct.shape[0]:
            return
        grown = np.full(max(size, self._direct.shape[0] * 3 // 2), -1, dtype=np.int32)
        grown[: self._direct.shape[0]] = self._direct
        self._direct = grown

    def _to_hash(self) -> None:
        if self._hash is not None:
            return
        table = HashTable(len(self) * 2)
        _hash_add(table.keys, table.vals, self.external, 0)
        table.count = len(self)
        self._hash, self._direct = table, None
