"""Reduce a batch of updates to its net effect on each edge.

Updates of one edge are applied in arrival order to the edge's state before the batch; only the
difference between the state before and after matters to the sparsifier. ``insert`` then
``delete`` of a new edge is nothing; ``delete`` then ``insert`` of an edge is a reweight.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.graph.updates import Op
from sparsiflow.engine.store.layout import Arrays, edge_key, g_find, g_in_h, g_weight

__all__ = ["NEW", "REMOVED", "REWEIGHTED", "NetChange", "net_change"]

NEW, REMOVED, REWEIGHTED = 1, 2, 3
_INSERT, _DELETE = int(Op.INSERT), int(Op.DELETE)


class NetChange(NamedTuple):
    """One row per edge whose state changed, in order of first appearance in the batch.

    kind: NEW / REMOVED / REWEIGHTED; lo < hi dense ids; w_old / w_new (NaN when absent);
    in_h: whether the edge was in H before the batch. counts: [inserted, deleted,
    reweighted, unknown] operations as applied one by one.
    """

    kind: NDArray[np.int8]
    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    w_old: NDArray[np.float64]
    w_new: NDArray[np.float64]
    in_h: NDArray[np.bool_]
    counts: NDArray[np.int64]


@nb.njit(cache=True, nogil=True)
def _scan(
    s: Arrays,
    keys: NDArray[np.int64],
    order: NDArray[np.int64],
    ops: NDArray[np.int8],
    w: NDArray[np.float64],
) -> tuple[
    NDArray[np.int64],
    NDArray[np.int8],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.bool_],
    NDArray[np.int64],
]:
    m = order.shape[0]
    first = np.empty(m, np.int64)
    kind = np.empty(m, np.int8)
    key_out = np.empty(m, np.int64)
    w_old = np.empty(m, np.float64)
    w_new = np.empty(m, np.float64)
    in_h = np.empty(m, np.bool_)
    counts = np.zeros(4, np.int64)
    k = 0
    i = 0
    while i < m:
        key = keys[order[i]]
        lo, hi = key >> 32, key & 0xFFFFFFFF
        slot = g_find(s, lo, hi)
        present0 = slot >= 0
        w0 = g_weight(s, slot) if present0 else np.nan
        h0 = g_in_h(s, slot) if present0 else False
        present, cur = present0, w0
        j = i
        while j < m and keys[order[j]] == key:
            row = order[j]
            op = ops[row]
            if op == _INSERT:
                counts[0 if not present else 2] += 1
                present, cur = True, w[row]
            elif op == _DELETE:
                counts[1 if present else 3] += 1
                present, cur = False, np.nan
            elif present:
                counts[2] += 1
                cur = w[row]
            else:
                counts[3] += 1
            j += 1
        change = 0
        if present and not present0:
            change = NEW
        elif present0 and not present:
            change = REMOVED
        elif present and cur != w0:
            change = REWEIGHTED
        if change:
            first[k] = order[i]
            kind[k] = change
            key_out[k] = key
            w_old[k], w_new[k], in_h[k] = w0, cur, h0
            k += 1
        i = j
    return first[:k], kind[:k], key_out[:k], w_old[:k], w_new[:k], in_h[:k], counts


@nb.njit(cache=True, nogil=True)
def _keys(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    out = np.empty(a.shape[0], np.int64)
    for i in range(a.shape[0]):
        out[i] = edge_key(a[i], b[i])
    return out


def net_change(
    s: Arrays,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    ops: NDArray[np.int8],
    w: NDArray[np.float64],
) -> NetChange:
    """Net effect of rows (dense endpoints a, b; -1 marks an unknown node) on G's edges."""
    known = (a >= 0) & (b >= 0)
    unknown_rows = int((~known).sum())
    rows = np.flatnonzero(known)
    keys = np.full(a.shape[0], -1, np.int64)
    keys[rows] = _keys(a[rows], b[rows])
    order = rows[np.argsort(keys[rows], kind="stable")]
    first, kind, key, w_old, w_new, in_h, counts = _scan(s, keys, order, ops, w)
    counts[3] += unknown_rows
    arrival = np.argsort(first, kind="stable")
    key = key[arrival]
    return NetChange(
        kind[arrival],
        key >> 32,
        key & 0xFFFFFFFF,
        w_old[arrival],
        w_new[arrival],
        in_h[arrival],
        counts,
    )
