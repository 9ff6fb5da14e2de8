"""Bulk edge mutations of G and H used by a batch (each resumable where it may need room)."""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.store.components import Components, union
from sparsiflow.engine.store.layout import (
    Arrays,
    g_add,
    g_find,
    g_in_h,
    g_remove,
    g_set,
    h_add,
    h_remove,
    h_reweight,
    room_for_edge,
)

__all__ = ["add_to_g", "add_to_h", "prune_from_h", "remove_edges", "reweight"]


@nb.njit(cache=True, nogil=True)
def add_to_g(
    s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64], w: NDArray[np.float64], begin: int
) -> int:
    """Add new edges to G only; returns where it stopped for room."""
    for i in range(begin, lo.shape[0]):
        if not room_for_edge(s, lo[i], hi[i], False):
            return i
        g_add(s, lo[i], hi[i], w[i])
    return len(lo)


@nb.njit(cache=True, nogil=True)
def add_to_h(
    s: Arrays,
    comp: Components,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    begin: int,
) -> int:
    """Put existing G edges into H with weight w; returns where it stopped for room."""
    for i in range(begin, lo.shape[0]):
        if not room_for_edge(s, lo[i], hi[i], True):
            return i
        h_add(s, lo[i], hi[i], w[i])
        union(comp, lo[i], hi[i])
    return len(lo)


@nb.njit(cache=True, nogil=True)
def remove_edges(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> None:
    """Remove edges from G, and from H where they are in it."""
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        if g_in_h(s, slot):
            h_remove(s, lo[i], hi[i])
        g_remove(s, g_find(s, lo[i], hi[i]))


@nb.njit(cache=True, nogil=True)
def reweight(
    s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64], w: NDArray[np.float64]
) -> None:
    """Set G's weight of existing edges; H's copy follows where the edge is in H."""
    for i in range(lo.shape[0]):
        slot = g_find(s, lo[i], hi[i])
        in_h = g_in_h(s, slot)
        g_set(s, slot, w[i], in_h)
        if in_h:
            h_reweight(s, lo[i], hi[i], w[i])


@nb.njit(cache=True, nogil=True)
def prune_from_h(s: Arrays, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> None:
    """Take edges of H out of H; they stay in G (the caller rebuilds the components)."""
    for i in range(lo.shape[0]):
        h_remove(s, lo[i], hi[i])
