"""The dynamic graph store: G and its sparsifier H as slack CSR adjacency plus an edge hash.

Layout (all plain arrays, so Numba kernels and array backends share them):

* per node x and per graph (G, H): ``start[x]`` (offset of x's block), ``deg[x]``, ``cap[x]``;
  the block ``nbr/wt[start[x] : start[x] + cap[x]]`` holds x's neighbours and edge weights.
  A full block is moved to the tail with twice the room (amortized O(1) append); freed blocks
  are reclaimed by compaction when more than half the space is dead.
* the edge hash maps ``lo << 32 | hi`` (dense ids, lo < hi) to the positions of the edge in
  lo's and hi's G lists (``pos_lo << 32 | pos_hi``): O(1) lookup, insert and delete.
* in G's lists the weight is stored negated when the edge is also in H (weights are > 0, so
  the sign bit is free): H membership costs no extra memory.

Kernels that may need room return a "stopped at" index; :class:`GraphStore` grows the arrays and
the caller resumes. Nothing is ever half-applied.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from engine.hashtable import HashTable, hash_delete, hash_find, hash_insert

__all__ = ["Arrays", "GraphStore", "edge_key"]

# meta slots
N_NODES, N_EDGES, N_HEDGES, G_TAIL, G_DEAD, H_TAIL, H_DEAD, NEED = range(8)
_LOW32 = np.int64(0xFFFFFFFF)


class Arrays(NamedTuple):
    """Everything a kernel needs, as one argument."""

    keys: NDArray[np.int64]
    vals: NDArray[np.int64]
    g_start: NDArray[np.int64]
    g_deg: NDArray[np.int32]
    g_cap: NDArray[np.int32]
    g_nbr: NDArray[np.int32]
    g_wt: NDArray[np.float64]
    h_start: NDArray[np.int64]
    h_deg: NDArray[np.int32]
    h_cap: NDArray[np.int32]
    h_nbr: NDArray[np.int32]
    h_wt: NDArray[np.float64]
    meta: NDArray[np.int64]


@nb.njit(cache=True, inline="always")
def edge_key(a: int, b: int) -> int:
    if a < b:
        return (np.int64(a) << 32) | np.int64(b)
    return (np.int64(b) << 32) | np.int64(a)


@nb.njit(cache=True, inline="always")
def block_room(cap: NDArray[np.int32], deg: NDArray[np.int32], x: int) -> int:
    """Tail space one append to x may need (a doubled block when x's block is full)."""
    return 0 if deg[x] < cap[x] else max(4, 2 * cap[x])


@nb.njit(cache=True)
def _append(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    cap: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    meta: NDArray[np.int64],
    tail: int,
    x: int,
    y: int,
    w: float,
) -> int:
    """Append (y, w) to x's list; returns its position in the list (room checked by caller)."""
    d = deg[x]
    if d == cap[x]:
        new_cap = max(4, 2 * cap[x])
        t = meta[tail]
        s = start[x]
        for i in range(d):
            nbr[t + i] = nbr[s + i]
            wt[t + i] = wt[s + i]
        meta[tail + 1] += cap[x]
        start[x] = t
        cap[x] = new_cap
        meta[tail] = t + new_cap
    nbr[start[x] + d] = y
    wt[start[x] + d] = w
    deg[x] = d + 1
    return d


@nb.njit(cache=True)
def room_for_edge(s: Arrays, a: int, b: int, in_h: bool) -> bool:
    """Whether G (and H when ``in_h``) have tail room to append edge a-b."""
    need_g = block_room(s.g_cap, s.g_deg, a) + block_room(s.g_cap, s.g_deg, b)
    if s.meta[G_TAIL] + need_g > s.g_nbr.shape[0]:
        s.meta[NEED] = need_g
        return False
    if s.meta[N_EDGES] + 1 > s.keys.shape[0] * 0.7:
        return False
    if in_h:
        need_h = block_room(s.h_cap, s.h_deg, a) + block_room(s.h_cap, s.h_deg, b)
        if s.meta[H_TAIL] + need_h > s.h_nbr.shape[0]:
            s.meta[NEED] = need_h
            return False
    return True


@nb.njit(cache=True)
def g_find(s: Arrays, a: int, b: int) -> int:
    """Hash slot of edge a-b of G, or -1."""
    return hash_find(s.keys, edge_key(a, b))


@nb.njit(cache=True)
def g_entry(s: Arrays, slot: int, x: int) -> int:
    """Index into g_nbr/g_wt of the entry of edge ``slot`` in x's list (x an endpoint)."""
    lo = s.keys[slot] >> 32
    pos = (s.vals[slot] >> 32) if x == lo else (s.vals[slot] & _LOW32)
    return int(s.g_start[x] + pos)


@nb.njit(cache=True)
def g_add(s: Arrays, a: int, b: int, w: float) -> None:
    """Add edge a-b to G only (room checked by the caller with room_for_edge)."""
    pa = _append(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, a, b, w)
    pb = _append(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, b, a, w)
    pos = (np.int64(pa) << 32) | np.int64(pb) if a < b else (np.int64(pb) << 32) | np.int64(pa)
    hash_insert(s.keys, s.vals, edge_key(a, b), pos)
    s.meta[N_EDGES] += 1


@nb.njit(cache=True)
def _g_unlink(s: Arrays, x: int, pos: int) -> None:
    """Swap-remove entry ``pos`` of x's G list, fixing the moved edge's hash positions."""
    last = s.g_deg[x] - 1
    base = s.g_start[x]
    if pos != last:
        c = s.g_nbr[base + last]
        s.g_nbr[base + pos] = c
        s.g_wt[base + pos] = s.g_wt[base + last]
        slot = hash_find(s.keys, edge_key(x, c))
        if x < c:
            s.vals[slot] = (np.int64(pos) << 32) | (s.vals[slot] & _LOW32)
        else:
            s.vals[slot] = (s.vals[slot] & ~_LOW32) | np.int64(pos)
    s.g_deg[x] = last


@nb.njit(cache=True)
def g_remove(s: Arrays, slot: int) -> None:
    """Remove edge ``slot`` from G (the caller removes it from H first if it is there)."""
    lo = int(s.keys[slot] >> 32)
    hi = int(s.keys[slot] & _LOW32)
    plo = int(s.vals[slot] >> 32)
    phi = int(s.vals[slot] & _LOW32)
    _g_unlink(s, lo, plo)
    _g_unlink(s, hi, phi)
    hash_delete(s.keys, s.vals, hash_find(s.keys, edge_key(lo, hi)))
    s.meta[N_EDGES] -= 1


@nb.njit(cache=True)
def g_set(s: Arrays, slot: int, w: float, in_h: bool) -> None:
    """Set the weight and H flag of edge ``slot`` in both of its G entries."""
    lo = int(s.keys[slot] >> 32)
    hi = int(s.keys[slot] & _LOW32)
    signed = -w if in_h else w
    s.g_wt[g_entry(s, slot, lo)] = signed
    s.g_wt[g_entry(s, slot, hi)] = signed


@nb.njit(cache=True)
def _h_find(s: Arrays, x: int, y: int) -> int:
    base = s.h_start[x]
    for i in range(s.h_deg[x]):
        if s.h_nbr[base + i] == y:
            return int(base + i)
    return -1


@nb.njit(cache=True)
def h_add(s: Arrays, a: int, b: int, w: float) -> None:
    """Add edge a-b (already in G) to H (room checked by the caller)."""
    _append(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, a, b, w)
    _append(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, b, a, w)
    g_set(s, g_find(s, a, b), w, True)
    s.meta[N_HEDGES] += 1


@nb.njit(cache=True)
def h_remove(s: Arrays, a: int, b: int) -> None:
    """Remove edge a-b from H (it stays in G)."""
    for x, y in ((a, b), (b, a)):
        i = _h_find(s, x, y)
        last = s.h_start[x] + s.h_deg[x] - 1
        s.h_nbr[i] = s.h_nbr[last]
        s.h_wt[i] = s.h_wt[last]
        s.h_deg[x] -= 1
    slot = g_find(s, a, b)
    if slot >= 0:
        g_set(s, slot, abs(s.g_wt[g_entry(s, slot, a)]), False)
    s.meta[N_HEDGES] -= 1


@nb.njit(cache=True)
def h_reweight(s: Arrays, a: int, b: int, w: float) -> None:
    """Set the weight of H edge a-b in H's lists."""
    s.h_wt[_h_find(s, a, b)] = w
    s.h_wt[_h_find(s, b, a)] = w


@nb.njit(cache=True)
def g_weight(s: Arrays, slot: int) -> float:
    """Weight of G edge ``slot``."""
    lo = int(s.keys[slot] >> 32)
    return abs(s.g_wt[g_entry(s, slot, lo)])


@nb.njit(cache=True)
def g_in_h(s: Arrays, slot: int) -> bool:
    """Whether G edge ``slot`` is in H."""
    lo = int(s.keys[slot] >> 32)
    return bool(s.g_wt[g_entry(s, slot, lo)] < 0)


@nb.njit(cache=True)
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
        c = d + max(2, d // 4) if d > 0 else 0
        cap[x] = c
        t += c
    return t


@nb.njit(cache=True)
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
        pa = _append(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, a, b, signed)
        pb = _append(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, b, a, signed)
        hash_insert(s.keys, s.vals, edge_key(a, b), (np.int64(pa) << 32) | np.int64(pb))
        if in_h[i]:
            _append(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, a, b, w[i])
            _append(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, b, a, w[i])
    s.meta[N_EDGES] = lo.shape[0]
    s.meta[N_HEDGES] = in_h.sum()


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def _outside_h(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
    out = np.zeros(lo.shape[0], np.bool_)
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        out[i] = slot >= 0 and not g_in_h(s, slot)
    return out


def _blocks(
    n: int, endpoints: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int32], int]:
    """start/deg/cap for n nodes with room for the given endpoint counts plus ~25 % slack."""
    deg = np.bincount(endpoints, minlength=n).astype(np.int64)
    cap = np.where(deg > 0, deg + np.maximum(2, deg // 4), 0)
    start = np.zeros(n, np.int64)
    np.cumsum(cap[:-1], out=start[1:])
    return start, np.zeros(n, np.int32), cap.astype(np.int32), int(cap.sum())


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
        g_pool = _new_pool(g_used + g_used // 4 + 1024)
        h_pool = _new_pool(h_used + h_used // 4 + 1024)
        meta = np.zeros(8, np.int64)
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
        self.arrays.meta[N_NODES] = n

    def grow(self) -> None:
        """Called when a kernel stopped for room: rehash and compact/enlarge what is short."""
        s = self.arrays
        self._table.count = int(s.meta[N_EDGES])
        self._table.reserve(max(1024, self.edges // 4))
        s = s._replace(keys=self._table.keys, vals=self._table.vals)
        s = self._regrow(s, "g", G_TAIL, G_DEAD)
        self.arrays = self._regrow(s, "h", H_TAIL, H_DEAD)
        self.arrays.meta[NEED] = 0

    def _regrow(self, s: Arrays, which: str, tail: int, dead: int) -> Arrays:
        start, deg, cap, nbr, wt = (
            getattr(s, f"{which}_{k}") for k in ("start", "deg", "cap", "nbr", "wt")
        )
        n = self.nodes
        max_block = int(cap[:n].max(initial=0))
        want = 4 * max_block + 64 + int(s.meta[NEED])
        if nbr.shape[0] - int(s.meta[tail]) >= want + nbr.shape[0] // 8:
            return s
        d = deg[:n].astype(np.int64)
        live = int((d + np.where(d > 0, np.maximum(2, d // 4), 0)).sum())
        new_nbr, new_wt = _new_pool(max(1024, (live + want) * 3 // 2))
        s.meta[tail] = _compact(start, deg, cap, nbr, wt, n, new_nbr, new_wt)
        s.meta[dead] = 0
        return s._replace(**{f"{which}_nbr": new_nbr, f"{which}_wt": new_wt})

    def outside_h(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each pair is an edge of G that is not in H."""
        return _outside_h(self.arrays, lo, hi)

    def edges_of(
        self, only_h: bool
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """(lo, hi, w) of every edge of G, or of H (dense ids, lo < hi, hash order)."""
        return _export(self.arrays, only_h)
