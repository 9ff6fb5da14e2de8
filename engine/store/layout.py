"""Graph store layout and O(1) edge kernels: G and H as slack CSR plus an edge hash.

Layout (all plain arrays, so Numba kernels and array backends share them):

* per node x and per graph (G, H): ``start[x]`` (offset of x's block), ``deg[x]``, ``cap[x]``;
  the block ``nbr/wt[start[x] : start[x] + cap[x]]`` holds x's neighbours and edge weights.
  A full block is moved to the tail with 1.5 times the room (amortized O(1) append); when the
  tail runs out, the pool is compacted (blocks made tight again) into a slightly larger one.
* the edge hash maps ``lo << 32 | hi`` (dense ids, lo < hi) to the positions of the edge in
  lo's and hi's G lists (``pos_lo << 32 | pos_hi``): O(1) lookup, insert and delete.
* in G's lists the weight is stored negated when the edge is also in H (weights are > 0, so
  the sign bit is free): H membership costs no extra memory.

Kernels that may need room return a "stopped at" index (and the room they need in ``meta[NEED]``);
:class:`sparsiflow.engine.store.graph_store.GraphStore` grows the arrays and the caller resumes.
Nothing is ever half-applied.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.store.edge_hash import MAX_LOAD, hash_delete, hash_find, hash_insert

__all__ = [
    "Arrays",
    "append_entry",
    "edge_key",
    "g_add",
    "g_find",
    "g_in_h",
    "g_remove",
    "g_set",
    "g_weight",
    "h_add",
    "h_entry",
    "h_remove",
    "h_reweight",
    "pack",
    "room_for_edge",
]

# meta slots
N_NODES, N_EDGES, N_HEDGES, G_TAIL, H_TAIL, NEED, GENERATION = range(7)
META_SLOTS = 16
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


@nb.njit(cache=True, nogil=True, inline="always")
def pack(high: int, low: int) -> int:
    """Two non-negative 31-bit integers in one int64."""
    return int((np.int64(high) << 32) | np.int64(low))


@nb.njit(cache=True, nogil=True, inline="always")
def edge_key(a: int, b: int) -> int:
    return pack(a, b) if a < b else pack(b, a)


@nb.njit(cache=True, nogil=True, inline="always")
def grown_capacity(cap: int) -> int:
    """Capacity of a full block moved to the tail: 1.5 times as large (amortized O(1))."""
    return max(4, cap + cap // 2)


@nb.njit(cache=True, nogil=True, inline="always")
def block_room(cap: NDArray[np.int32], deg: NDArray[np.int32], x: int) -> int:
    """Tail space one append to x may need (a grown block when x's block is full)."""
    return 0 if deg[x] < cap[x] else grown_capacity(cap[x])


@nb.njit(cache=True, nogil=True)
def append_entry(
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
        new_cap = grown_capacity(cap[x])
        t = meta[tail]
        s = start[x]
        for i in range(d):
            nbr[t + i] = nbr[s + i]
            wt[t + i] = wt[s + i]
        start[x] = t
        cap[x] = new_cap
        meta[tail] = t + new_cap
    nbr[start[x] + d] = y
    wt[start[x] + d] = w
    deg[x] = d + 1
    return int(d)


@nb.njit(cache=True, nogil=True)
def room_for_edge(s: Arrays, a: int, b: int, in_h: bool) -> bool:
    """Whether G (and H when ``in_h``) have tail room to append edge a-b."""
    need_g = block_room(s.g_cap, s.g_deg, a) + block_room(s.g_cap, s.g_deg, b)
    if s.meta[G_TAIL] + need_g > s.g_nbr.shape[0]:
        s.meta[NEED] = need_g
        return False
    if s.meta[N_EDGES] + 1 > s.keys.shape[0] * MAX_LOAD:
        return False
    if in_h:
        need_h = block_room(s.h_cap, s.h_deg, a) + block_room(s.h_cap, s.h_deg, b)
        if s.meta[H_TAIL] + need_h > s.h_nbr.shape[0]:
            s.meta[NEED] = need_h
            return False
    return True


@nb.njit(cache=True, nogil=True)
def g_find(s: Arrays, a: int, b: int) -> int:
    """Hash slot of edge a-b of G, or -1."""
    return hash_find(s.keys, edge_key(a, b))


@nb.njit(cache=True, nogil=True)
def g_entry(s: Arrays, slot: int, x: int) -> int:
    """Index into g_nbr/g_wt of the entry of edge ``slot`` in x's list (x an endpoint)."""
    lo = s.keys[slot] >> 32
    pos = (s.vals[slot] >> 32) if x == lo else (s.vals[slot] & _LOW32)
    return int(s.g_start[x] + pos)


@nb.njit(cache=True, nogil=True)
def g_add(s: Arrays, a: int, b: int, w: float) -> None:
    """Add edge a-b to G only (room checked by the caller with room_for_edge)."""
    pa = append_entry(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, a, b, w)
    pb = append_entry(s.g_start, s.g_deg, s.g_cap, s.g_nbr, s.g_wt, s.meta, G_TAIL, b, a, w)
    hash_insert(s.keys, s.vals, edge_key(a, b), pack(pa, pb) if a < b else pack(pb, pa))
    s.meta[N_EDGES] += 1


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True)
def g_set(s: Arrays, slot: int, w: float, in_h: bool) -> None:
    """Set the weight and H flag of edge ``slot`` in both of its G entries."""
    lo = int(s.keys[slot] >> 32)
    hi = int(s.keys[slot] & _LOW32)
    signed = -w if in_h else w
    s.g_wt[g_entry(s, slot, lo)] = signed
    s.g_wt[g_entry(s, slot, hi)] = signed


@nb.njit(cache=True, nogil=True)
def h_entry(s: Arrays, x: int, y: int) -> int:
    """Index into h_nbr/h_wt of y in x's H list, or -1."""
    base = s.h_start[x]
    for i in range(s.h_deg[x]):
        if s.h_nbr[base + i] == y:
            return int(base + i)
    return -1


@nb.njit(cache=True, nogil=True)
def h_add(s: Arrays, a: int, b: int, w: float) -> None:
    """Add edge a-b (already in G) to H (room checked by the caller)."""
    append_entry(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, a, b, w)
    append_entry(s.h_start, s.h_deg, s.h_cap, s.h_nbr, s.h_wt, s.meta, H_TAIL, b, a, w)
    g_set(s, g_find(s, a, b), w, True)
    s.meta[N_HEDGES] += 1


@nb.njit(cache=True, nogil=True)
def h_remove(s: Arrays, a: int, b: int) -> None:
    """Remove edge a-b from H (it stays in G)."""
    for x, y in ((a, b), (b, a)):
        i = h_entry(s, x, y)
        last = s.h_start[x] + s.h_deg[x] - 1
        s.h_nbr[i] = s.h_nbr[last]
        s.h_wt[i] = s.h_wt[last]
        s.h_deg[x] -= 1
    slot = g_find(s, a, b)
    if slot >= 0:
        g_set(s, slot, abs(s.g_wt[g_entry(s, slot, a)]), False)
    s.meta[N_HEDGES] -= 1


@nb.njit(cache=True, nogil=True)
def h_reweight(s: Arrays, a: int, b: int, w: float) -> None:
    """Set the weight of H edge a-b in H's lists."""
    s.h_wt[h_entry(s, a, b)] = w
    s.h_wt[h_entry(s, b, a)] = w


@nb.njit(cache=True, nogil=True)
def g_weight(s: Arrays, slot: int) -> float:
    """Weight of G edge ``slot``."""
    lo = int(s.keys[slot] >> 32)
    return float(abs(s.g_wt[g_entry(s, slot, lo)]))


@nb.njit(cache=True, nogil=True)
def g_in_h(s: Arrays, slot: int) -> bool:
    """Whether G edge ``slot`` is in H."""
    lo = int(s.keys[slot] >> 32)
    return bool(s.g_wt[g_entry(s, slot, lo)] < 0)
