"""Static spectral sparsifier of a snapshot (the bootstrap, and the full-rebuild baseline).

The recipe follows feGRASS: BFS layers from a maximum-degree node of every component; a
maximum spanning forest on the effective weight ``w * log(1 + max deg) / (1 + layer_u +
layer_v)`` (heavy, central edges first); every off-forest edge scored by its stretch
``w * R_T(u, v)`` (tree-path resistance from root distances and the lowest common ancestor);
the highest-stretch edges are recovered up to the target off-tree density, skipping an edge
whose ends both lie near the two ends of an edge recovered before (similarity filter).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = ["csr", "static_sparsifier", "tree_stretch"]


def csr(
    n: int, lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64]]:
    """Symmetric CSR (indptr, neighbour, edge index) of the edge list: each node's entries
    in edge order, those where it is ``lo`` first (a counting sort)."""
    return _csr(n, lo, hi)


@nb.njit(cache=True, nogil=True)
def _csr(
    n: int, lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64]]:
    indptr = np.zeros(n + 1, np.int64)
    for e in range(lo.shape[0]):
        indptr[lo[e] + 1] += 1
        indptr[hi[e] + 1] += 1
    for x in range(n):
        indptr[x + 1] += indptr[x]
    fill = indptr[:-1].copy()
    nbr = np.empty(2 * lo.shape[0], np.int32)
    eidx = np.empty(2 * lo.shape[0], np.int64)
    for ends, other in ((lo, hi), (hi, lo)):
        for e in range(lo.shape[0]):
            x = ends[e]
            nbr[fill[x]], eidx[fill[x]] = other[e], e
            fill[x] += 1
    return indptr, nbr, eidx


@nb.njit(cache=True, nogil=True)
def _layers(indptr: NDArray[np.int64], nbr: NDArray[np.int32]) -> NDArray[np.int32]:
    """BFS layer of every node, from a maximum-degree node of each component."""
    n = indptr.shape[0] - 1
    deg = indptr[1:] - indptr[:-1]
    layer = np.full(n, -1, np.int32)
    queue = np.empty(n, np.int32)
    for root in np.argsort(-deg, kind="mergesort"):
        if layer[root] >= 0:
            continue
        layer[root] = 0
        head, tail = 0, 1
        queue[0] = root
        while head < tail:
            x = queue[head]
            head += 1
            for i in range(indptr[x], indptr[x + 1]):
                y = nbr[i]
                if layer[y] < 0:
                    layer[y] = layer[x] + 1
                    queue[tail] = y
                    tail += 1
    return layer


@nb.njit(cache=True, nogil=True)
def _root(uf: NDArray[np.int64], x: int) -> int:
    while uf[x] != x:
        uf[x] = uf[uf[x]]
        x = uf[x]
    return x


@nb.njit(cache=True, nogil=True)
def _kruskal(
    n: int, lo: NDArray[np.int64], hi: NDArray[np.int64], order: NDArray[np.int64]
) -> NDArray[np.bool_]:
    uf = np.arange(n)
    tree = np.zeros(lo.shape[0], np.bool_)
    for e in order:
        a, b = _root(uf, lo[e]), _root(uf, hi[e])
        if a != b:
            uf[a] = b
            tree[e] = True
    return tree


@nb.njit(cache=True, nogil=True)
def _tree_stretch(
    indptr: NDArray[np.int64],
    nbr: NDArray[np.int32],
    eidx: NDArray[np.int64],
    tree: NDArray[np.bool_],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Stretch w * R_T(u, v) of every off-tree edge (Tarjan's offline LCA, iterative DFS)."""
    n = indptr.shape[0] - 1
    m = lo.shape[0]
    dist = np.zeros(n)
    anc = np.arange(n)
    uf = np.arange(n)
    state = np.zeros(n, np.int8)  # 0 new, 1 open, 2 done
    cursor = indptr[:-1].copy()
    stack = np.empty(n, np.int64)
    stretch = np.zeros(m)
    for root in range(n):
        if state[root]:
            continue
        top = 0
        stack[0] = root
        state[root] = 1
        while top >= 0:
            x = stack[top]
            advanced = False
            while cursor[x] < indptr[x + 1]:
                i = cursor[x]
                cursor[x] += 1
                e = eidx[i]
                y = nbr[i]
                if tree[e] and state[y] == 0:
                    dist[y] = dist[x] + 1.0 / w[e]
                    state[y] = 1
                    top += 1
                    stack[top] = y
                    advanced = True
                    break
                if not tree[e] and state[y] == 2:
                    lca = anc[_root(uf, y)]
                    stretch[e] = w[e] * (dist[x] + dist[y] - 2.0 * dist[lca])
            if advanced:
                continue
            state[x] = 2
            # off-tree edges to already-closed nodes were scored from x; those to open
            # ancestors are scored when the ancestor closes (its cursor is past them).
            for i in range(indptr[x], indptr[x + 1]):
                e = eidx[i]
                y = nbr[i]
                if not tree[e] and state[y] == 1:
                    stretch[e] = w[e] * (dist[x] - dist[y])
            top -= 1
            if top >= 0:
                parent = stack[top]
                uf[_root(uf, x)] = _root(uf, parent)
                anc[_root(uf, parent)] = parent
    return stretch


@nb.njit(cache=True, nogil=True)
def _select(
    indptr: NDArray[np.int64],
    nbr: NDArray[np.int32],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    ranked: NDArray[np.int64],
    budget: int,
    hops: int,
    chosen: NDArray[np.bool_],
) -> int:
    """Take edges in ranked order, skipping ones similar to an earlier pick; returns count."""
    n = indptr.shape[0] - 1
    near_a = np.full(n, -1, np.int64)
    near_b = np.full(n, -1, np.int64)
    frontier = np.empty(n, np.int32)
    taken = 0
    for e in ranked:
        if taken >= budget:
            break
        a, b = lo[e], hi[e]
        if (near_a[a] >= 0 and near_a[a] == near_b[b]) or (
            near_b[a] >= 0 and near_b[a] == near_a[b]
        ):
            continue
        chosen[e] = True
        taken += 1
        for end, mark in ((a, near_a), (b, near_b)):
            mark[end] = e
            size, head = 1, 0
            frontier[0] = end
            for _ in range(hops):
                stop = size
                while head < stop:
                    x = frontier[head]
                    head += 1
                    for i in range(indptr[x], indptr[x + 1]):
                        y = nbr[i]
                        if mark[y] != e:
                            mark[y] = e
                            frontier[size] = y
                            size += 1
    return taken


def tree_stretch(
    n: int, lo: NDArray[np.int64], hi: NDArray[np.int64], w: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """A maximum-weight spanning forest of the edges (mask) and the stretch ``w * R_T`` of
    every edge off it (0 on it)."""
    indptr, nbr, eidx = csr(n, lo, hi)
    tree = _kruskal(n, lo, hi, np.argsort(-w, kind="stable"))
    return tree, _tree_stretch(indptr, nbr, eidx, tree, lo, hi, w)


def static_sparsifier(
    n: int,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    off_tree_density: float = 0.10,
    similarity_hops: int = 2,
) -> NDArray[np.bool_]:
    """Mask of the edges kept in H: a spanning forest plus ``off_tree_density * n`` edges."""
    if lo.shape[0] == 0:
        return np.zeros(0, np.bool_)
    indptr, nbr, eidx = csr(n, lo, hi)
    deg = np.diff(indptr)
    layer = _layers(indptr, nbr)
    eff = w * np.log1p(np.maximum(deg[lo], deg[hi])) / (1.0 + layer[lo] + layer[hi])
    tree = _kruskal(n, lo, hi, np.argsort(-eff, kind="stable"))
    stretch = _tree_stretch(indptr, nbr, eidx, tree, lo, hi, w)
    off = np.flatnonzero(~tree)
    ranked = off[np.argsort(-stretch[off], kind="stable")]
    budget = min(round(off_tree_density * n), off.shape[0])
    chosen = tree.copy()
    taken = _select(indptr, nbr, lo, hi, ranked, budget, similarity_hops, chosen)
    if taken < budget:  # the filter was too strict: fill up with the best remaining edges
        rest = ranked[~chosen[ranked]]
        chosen[rest[: budget - taken]] = True
    return chosen
