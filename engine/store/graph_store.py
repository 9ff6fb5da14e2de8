"""Owner of the graph store's arrays: construction, growth, compaction and export."""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.store.edge_hash import HashTable, hash_find, hash_insert
from sparsiflow.engine.store.layout import (
    G_TAIL,
    GENERATION,
    H_TAIL,
    META_SLOTS,
    N_EDGES,
    N_HEDGES,
    N_NODES,
    NEED,
    Arrays,
    append_entry,
    edge_key,
    g_find,
    g_in_h,
    g_weight,
    pack,
)

__all__ = ["GraphStore"]

_LOW32 = np.int64(0xFFFFFFFF)

Lists = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]


@nb.njit(cache=True, nogil=True)
def _compact(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    cap: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    n: int,
    new_nbr: NDArray[np.int32],
    new_wt: NDArray[np.float64],
) -> int:
    t = 0
    for x in range(n):
        s = start[x]
        d = deg[x]
        for i in range(d):
            new_nbr[t + i] = nbr[s + i]
            new_wt[t + i] = wt[s + i]
        start[x] = t
        c = d + max(1, d // 8) if d > 0 else 0
        cap[x] = c
        t += c
    return t


@nb.njit(cache=True, nogil=True)
def _fill(
    s: Arrays,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    in_h: NDArray[np.bool_],
) -> None:
    """Fill pre-sized blocks (deg = 0, cap and start set) with the given distinct edges."""
    for i in range(lo.shape[0]):
        a, b = lo[i], hi[i]
        signed = -w[i] if in_h[i] else w[i]
        pa = append_entry(
            s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, a, b, signed
        )
        pb = append_entry(
            s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, b, a, signed
        )
        hash_insert(s.keys, s.vals, edge_key(a, b), pack(pa, pb))
        if in_h[i]:
            append_entry(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, a, b, w[i])
            append_entry(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, b, a, w[i])
    s.meta[N_EDGES] = lo.shape[0]
    s.meta[N_HEDGES] = in_h.sum()


@nb.njit(cache=True, nogil=True)
def _index_lists(s: Arrays, n: int) -> None:
    """Hash every G edge with its positions in both lists (lists already filled)."""
    for x in range(n):
        for i in range(s.g_deg[x]):
            y = s.g_nbr[s.g_start[x] + i]
            if x < y:
                hash_insert(s.keys, s.vals, pack(x, y), pack(i, 0))
    for x in range(n):
        for i in range(s.g_deg[x]):
            y = s.g_nbr[s.g_start[x] + i]
            if x > y:
                slot = hash_find(s.keys, pack(y, x))
                s.vals[slot] |= i


def _ranges(start: NDArray[np.int64], count: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenation of ``arange(start[k], start[k] + count[k])`` over k."""
    total = int(count.sum())
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
    return offsets + np.arange(total)


@nb.njit(cache=True, nogil=True)
def _export(
    s: Arrays, only_h: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    m = s.meta[N_HEDGES] if only_h else s.meta[N_EDGES]
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    w = np.empty(m, dtype=np.float64)
    k = 0
    for slot in range(s.keys.shape[0]):
        if s.keys[slot] < 0:
            continue
        if only_h and not g_in_h(s, slot):
            continue
        lo[k] = s.keys[slot] >> 32
        hi[k] = s.keys[slot] & _LOW32
        w[k] = g_weight(s, slot)
        k += 1
    return lo[:k], hi[:k], w[:k]


@nb.njit(cache=True, nogil=True)
def _outside_h(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
    out = np.zeros(lo.shape[0], np.bool_)
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        out[i] = slot >= 0 and not g_in_h(s, slot)
    return out


@nb.njit(cache=True, nogil=True)
def _weights(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.float64]:
    out = np.full(lo.shape[0], np.nan)
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        if slot >= 0:
            out[i] = g_weight(s, slot)
    return out


@nb.njit(cache=True, nogil=True)
def _in_h(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
    out = np.zeros(lo.shape[0], np.bool_)
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        out[i] = slot >= 0 and g_in_h(s, slot)
    return out


def _blocks(
    n: int, endpoints: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int32], int]:
    """start/deg/cap for n nodes with room for the given endpoint counts plus ~25 % slack."""
    deg = np.bincount(endpoints, minlength=n).astype(np.int64)
    cap = _capacity(deg)
    start = np.zeros(n, np.int64)
    np.cumsum(cap[:-1], out=start[1:])
    return start, np.zeros(n, np.int32), cap.astype(np.int32), int(cap.sum())


def _capacity(deg: NDArray[np.int64]) -> NDArray[np.int64]:
    """Block sizes for the given degrees: 1/8 spare room (at least one slot) per node."""
    return np.where(deg > 0, deg + np.maximum(1, deg // 8), 0)


def _pool_size(used: int) -> int:
    """Pool length for ``used`` slots of blocks: 1/16 spare at the tail for moved blocks (at
    least 64 slots; the pool grows when they run out)."""
    return used + used // 16 + 64


def _new_pool(size: int) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    return np.zeros(size, np.int32), np.zeros(size, np.float64)


class GraphStore:
    """Owns the arrays of G and H and grows them between kernel calls."""

    def __init__(self, arrays: Arrays, table: HashTable) -> None:
        self.arrays = arrays
        self._table = table

    @classmethod
    def from_edges(
        cls,
        n: int,
        lo: NDArray[np.int64],
        hi: NDArray[np.int64],
        w: NDArray[np.float64],
        in_h: NDArray[np.bool_],
    ) -> GraphStore:
        """Build from distinct edges (dense ids, lo < hi) and their H membership."""
        table = HashTable(lo.shape[0])
        size = max(n, 16)
        ends = np.concatenate([lo, hi])
        g_start, g_deg, g_cap, g_used = _blocks(size, ends)
        h_start, h_deg, h_cap, h_used = _blocks(size, np.concatenate([lo[in_h], hi[in_h]]))
        g_pool = _new_pool(_pool_size(g_used))
        h_pool = _new_pool(_pool_size(h_used))
        meta = np.zeros(META_SLOTS, np.int64)
        meta[N_NODES], meta[G_TAIL], meta[H_TAIL] = n, g_used, h_used
        arrays = Arrays(
            table.keys,
            table.vals,
            g_start,
            g_deg,
            g_cap,
            *g_pool,
            h_start,
            h_deg,
            h_cap,
            *h_pool,
            meta,
        )
        _fill(arrays, lo, hi, w, in_h)
        table.count = lo.shape[0]
        return cls(arrays, table)

    @classmethod
    def from_lists(cls, n: int, g: Lists, h: Lists) -> GraphStore:
        """Rebuild from :meth:`lists` output, keeping every neighbour list's order."""
        g_deg, h_deg = g[0].astype(np.int64), h[0].astype(np.int64)
        table = HashTable(int(g_deg.sum()) // 2)
        size = max(n, 16)
        blocks = []
        for deg, nbr, wt in ((g_deg, g[1], g[2]), (h_deg, h[1], h[2])):
            full = np.zeros(size, np.int64)
            full[:n] = deg
            cap = _capacity(full)
            start = np.zeros(size, np.int64)
            np.cumsum(cap[:-1], out=start[1:])
            used = int(cap.sum())
            pool_nbr, pool_wt = _new_pool(_pool_size(used))
            at = _ranges(start[:n], deg)
            pool_nbr[at], pool_wt[at] = nbr, wt
            blocks.append(
                (start, full.astype(np.int32), cap.astype(np.int32), pool_nbr, pool_wt, used)
            )
        meta = np.zeros(META_SLOTS, np.int64)
        meta[N_NODES], meta[G_TAIL], meta[H_TAIL] = n, blocks[0][5], blocks[1][5]
        meta[N_EDGES], meta[N_HEDGES] = int(g_deg.sum()) // 2, int(h_deg.sum()) // 2
        arrays = Arrays(table.keys, table.vals, *blocks[0][:5], *blocks[1][:5], meta)
        _index_lists(arrays, n)
        table.count = int(meta[N_EDGES])
        return cls(arrays, table)

    def lists(self) -> tuple[Lists, Lists]:
        """G's and H's neighbour lists in node order: (deg, nbr, wt) each; G's weights are
        negative for edges in H (the store's own encoding)."""
        s, n = self.arrays, self.nodes
        out = []
        for start, deg, nbr, wt in (
            (s.g_start, s.g_deg, s.g_nbr, s.g_wt),
            (s.h_start, s.h_deg, s.h_nbr, s.h_wt),
        ):
            at = _ranges(start[:n], deg[:n].astype(np.int64))
            out.append((deg[:n].copy(), nbr[at], wt[at]))
        return out[0], out[1]

    @property
    def nodes(self) -> int:
        return int(self.arrays.meta[N_NODES])

    @property
    def edges(self) -> int:
        return int(self.arrays.meta[N_EDGES])

    @property
    def h_edges(self) -> int:
        return int(self.arrays.meta[N_HEDGES])

    @property
    def nbytes(self) -> int:
        """Bytes held by the store's arrays."""
        return int(sum(a.nbytes for a in self.arrays))

    def add_nodes(self, count: int) -> None:
        """Make room for ``count`` more (isolated) nodes."""
        n = self.nodes + count
        s = self.arrays
        if n > s.g_start.shape[0]:
            size = max(n, s.g_start.shape[0] * 3 // 2)
            fields = ("g_start", "g_deg", "g_cap", "h_start", "h_deg", "h_cap")
            grown = {}
            for name in fields:
                old = getattr(s, name)
                new = np.zeros(size, old.dtype)
                new[: old.shape[0]] = old
                grown[name] = new
            self.arrays = s._replace(**grown)
            self.arrays.meta[GENERATION] += 1
        self.arrays.meta[N_NODES] = n

    def grow(self) -> None:
        """Called when a kernel stopped for room: rehash and compact/enlarge what is short."""
        s = self.arrays
        self._table.count = int(s.meta[N_EDGES])
        self._table.reserve(max(1024, self.edges // 8))
        s = s._replace(keys=self._table.keys, vals=self._table.vals)
        s = self._regrow(s, "g", G_TAIL)
        self.arrays = self._regrow(s, "h", H_TAIL)
        self.arrays.meta[NEED] = 0
        self.arrays.meta[GENERATION] += 1

    def _regrow(self, s: Arrays, which: str, tail: int) -> Arrays:
        start, deg, cap, nbr, wt = (
            getattr(s, f"{which}_{k}") for k in ("start", "deg", "cap", "nbr", "wt")
        )
        n = self.nodes
        max_block = int(cap[:n].max(initial=0))
        want = 4 * max_block + 64 + int(s.meta[NEED])
        if nbr.shape[0] - int(s.meta[tail]) >= want + nbr.shape[0] // 8:
            return s
        d = deg[:n].astype(np.int64)
        live = int(_capacity(d).sum()) + want
        new_nbr, new_wt = _new_pool(live + live // 8 + 1024)
        s.meta[tail] = _compact(start, deg, cap, nbr, wt, n, new_nbr, new_wt)
        if which == "g":
            return s._replace(g_nbr=new_nbr, g_wt=new_wt)
        return s._replace(h_nbr=new_nbr, h_wt=new_wt)

    def outside_h(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each pair is an edge of G that is not in H."""
        return _outside_h(self.arrays, lo, hi)

    def weights(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.float64]:
        """G's weight of each pair (NaN where G has no such edge)."""
        return _weights(self.arrays, lo, hi)

    def in_h(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each pair is an edge of H."""
        return _in_h(self.arrays, lo, hi)

    def flagged_edges(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        """(lo, hi, w, in_h) of every edge of G, sorted by (lo, hi)."""
        lo, hi, w = _export(self.arrays, False)
        order = np.lexsort((hi, lo))
        lo, hi, w = lo[order], hi[order], w[order]
        return lo, hi, w, ~_outside_h(self.arrays, lo, hi)

    def edges_of(
        self, only_h: bool
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """(lo, hi, w) of every edge of G, or of H (dense ids, lo < hi, hash order)."""
        return _export(self.arrays, only_h)
