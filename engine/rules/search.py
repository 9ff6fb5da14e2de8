"""Bidirectional Dijkstra on slack-CSR adjacency: the exact local least-resistance search.

Used by the default insertion rule (search H and G, lengths 1/w, pruned at a resistance bound)
and by deletion repair (search G, where edges already in H cost ``discount / w``). Search state
lives in a reusable :class:`Workspace` whose per-node arrays are "cleared" by bumping a stamp,
so a search costs only what it visits.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "COST_G_REPAIR",
    "COST_H",
    "Workspace",
    "bidirectional",
    "heap_for",
    "new_workspace",
    "overflowed",
    "trace_path",
]

COST_H = 0  # H adjacency: length 1/w; negative weights are blocked entries
COST_G_REPAIR = 1  # G adjacency: 1/|w|, times ``discount`` when the edge is in H (w < 0);
# zero weights are blocked entries

# meta slots
_STAMP, _OVERFLOW = 0, 1


class Workspace(NamedTuple):
    """Per-side (0: from p, 1: from q) search state; a node's entries share cache lines.

    ``mark[x, side]`` is the stamp of the last search that labelled x from that side (the
    node's dist and pred are valid only then); ``mark[x, 2 + side]`` its predecessor.
    """

    dist: NDArray[np.float64]  # (n, 2): tentative distance from each side
    mark: NDArray[np.int32]  # (n, 4): [stamp side 0, stamp side 1, pred side 0, pred side 1]
    heap_key: NDArray[np.float64]  # (2, capacity)
    heap_node: NDArray[np.int32]  # (2, capacity)
    meta: NDArray[np.int64]


def heap_for(nodes: int) -> int:
    """Initial search-heap capacity for ``nodes`` nodes (it grows x4 on overflow): small for a
    tiny graph, so that a thousand of them do not hold 100 KB each."""
    return min(4096, max(64, nodes))


def new_workspace(nodes: int, heap: int | None = None, old: Workspace | None = None) -> Workspace:
    """A workspace for ``nodes`` nodes (keeping ``old``'s stamp so stale marks stay stale)."""
    n = max(nodes, 16)
    heap = heap_for(n) if heap is None else heap
    meta = np.zeros(4, np.int64) if old is None else old.meta.copy()
    meta[_OVERFLOW] = 0
    ws = Workspace(
        np.zeros((n, 2)),
        np.zeros((n, 4), np.int32),
        np.zeros((2, heap)),
        np.zeros((2, heap), np.int32),
        meta,
    )
    if old is not None:
        m = min(n, old.dist.shape[0])
        ws.dist[:m] = old.dist[:m]
        ws.mark[:m] = old.mark[:m]
    return ws


@nb.njit(cache=True, nogil=True, inline="always")
def _cost(w: float, mode: int, discount: float) -> float:
    if mode == COST_H:
        return 1.0 / w if w > 0 else -1.0
    if w == 0.0:
        return -1.0
    return (discount if w < 0 else 1.0) / abs(w)


@nb.njit(cache=True, nogil=True)
def bidirectional(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    ws: Workspace,
    p: int,
    q: int,
    bound: float,
    accept: float,
    mode: int,
    discount: float,
) -> tuple[float, int, int, int]:
    """Shortest p-q path shorter than ``bound``.

    Returns ``(length, meet, exhausted_side, settled)``: length is inf when no path is shorter
    than ``bound``; ``meet`` is the node where the two trees join (trace with
    :func:`trace_path`); exhausted_side is 0 or 1 when that side ran out of nodes below the
    bound (with an infinite bound and no path: p and q are disconnected), else -1. The search
    stops early at the first path shorter than ``accept`` (0 disables that). Sets the overflow
    flag in ``ws.meta`` (and returns inf) when the heap is too small.

    One loop body with the heaps written out: helper calls taking arrays would cost atomic
    reference-count updates per settled node.
    """
    dist, mark, keys, nodes, meta = ws.dist, ws.mark, ws.heap_key, ws.heap_node, ws.meta
    if meta[_STAMP] >= 2**31 - 2:
        mark[:, :2] = 0
        meta[_STAMP] = 0
    meta[_STAMP] += 1
    stamp = meta[_STAMP]
    if p == q:
        return 0.0, p, -1, 0
    for side, root in ((0, p), (1, q)):
        mark[root, side] = stamp
        dist[root, side] = 0.0
        mark[root, 2 + side] = -1
        keys[side, 0] = 0.0
        nodes[side, 0] = root
    sizes = (1, 1)
    capacity = keys.shape[1]
    best = np.inf
    meet = -1
    settled = 0
    while sizes[0] > 0 and sizes[1] > 0:
        if keys[0, 0] + keys[1, 0] >= min(best, bound):
            break
        settled += 1
        side = 0 if sizes[0] <= sizes[1] else 1
        other = 1 - side
        size = sizes[side] - 1
        d = keys[side, 0]
        x = nodes[side, 0]
        # pop the root: sift the last entry down
        k, z, i = keys[side, size], nodes[side, size], 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and keys[side, child + 1] < keys[side, child]:
                child += 1
            if keys[side, child] >= k:
                break
            keys[side, i] = keys[side, child]
            nodes[side, i] = nodes[side, child]
            i = child
        if size > 0:
            keys[side, i] = k
            nodes[side, i] = z
        if d <= dist[x, side]:
            limit = min(best, bound)
            base = start[x]
            for e in range(base, base + deg[x]):
                c = _cost(wt[e], mode, discount)
                if c < 0:
                    continue
                y = nbr[e]
                nd = d + c
                if nd >= limit:
                    continue
                if mark[y, side] == stamp and nd >= dist[y, side]:
                    continue
                mark[y, side] = stamp
                dist[y, side] = nd
                mark[y, 2 + side] = x
                if size >= capacity:
                    meta[_OVERFLOW] = 1
                    return np.inf, -1, -1, settled
                # push y: sift up
                i = size
                while i > 0:
                    parent = (i - 1) >> 1
                    if keys[side, parent] <= nd:
                        break
                    keys[side, i] = keys[side, parent]
                    nodes[side, i] = nodes[side, parent]
                    i = parent
                keys[side, i] = nd
                nodes[side, i] = y
                size += 1
                if mark[y, other] == stamp:
                    total = nd + dist[y, other]
                    if total < best and total < bound:
                        best = total
                        meet = y
                        limit = min(best, bound)
        sizes = (size, sizes[1]) if side == 0 else (sizes[0], size)
        if best < accept:
            return best, meet, -1, settled
    exhausted = 0 if sizes[0] == 0 else (1 if sizes[1] == 0 else -1)
    if best < bound:
        return best, meet, exhausted, settled
    return np.inf, -1, exhausted, settled


@nb.njit(cache=True, nogil=True)
def trace_path(ws: Workspace, meet: int) -> NDArray[np.int32]:
    """Nodes of the path found by the last search, from p to q."""
    n_p = 0
    x = meet
    while x >= 0:
        n_p += 1
        x = ws.mark[x, 2]
    n_q = 0
    x = ws.mark[meet, 3]
    while x >= 0:
        n_q += 1
        x = ws.mark[x, 3]
    path = np.empty(n_p + n_q, np.int32)
    x = meet
    for i in range(n_p - 1, -1, -1):
        path[i] = x
        x = ws.mark[x, 2]
    x = ws.mark[meet, 3]
    for i in range(n_p, n_p + n_q):
        path[i] = x
        x = ws.mark[x, 3]
    return path


def overflowed(ws: Workspace) -> bool:
    """Whether the last search ran out of heap (grow the workspace and run it again)."""
    return bool(ws.meta[_OVERFLOW])
