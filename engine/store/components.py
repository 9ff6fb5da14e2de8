"""Connected components of H (= those of G), maintained exactly under insertions and deletions.

Each node carries a label; labels are merged with union-find when H gains an edge between two
components. When a deletion disconnects G, the repair search has proved it, and one side is
relabelled with a fresh label by a BFS over that side only. The component count is kept
alongside, so density figures never need a global pass.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = ["Components", "find", "relabel_side", "union"]

_LABELS, _COUNT = 0, 1


class Components(NamedTuple):
    label: NDArray[np.int32]  # per node
    parent: NDArray[np.int32]  # per label (union-find)
    meta: NDArray[np.int64]  # [labels in use, component count]

    @staticmethod
    def build(n: int, labels: NDArray[np.int32], count: int) -> Components:
        """From a per-node labelling 0..count-1 (e.g. scipy's connected_components)."""
        label = np.zeros(max(16, int(n * 1.25)), np.int32)
        label[:n] = labels
        parent = np.arange(max(16, count + count // 4), dtype=np.int32)  # grown by reserve
        meta = np.array([count, count], np.int64)
        return Components(label, parent, meta)

    @property
    def number(self) -> int:
        return int(self.meta[_COUNT])

    def reserve(self, nodes: int, labels: int) -> Components:
        """Room for ``nodes`` nodes and ``labels`` more labels."""
        comp = self
        if nodes > comp.label.shape[0]:
            grown = np.zeros(max(nodes, comp.label.shape[0] * 3 // 2), np.int32)
            grown[: comp.label.shape[0]] = comp.label
            comp = comp._replace(label=grown)
        need = int(comp.meta[_LABELS]) + labels
        if need > comp.parent.shape[0]:
            grown = np.arange(max(need, comp.parent.shape[0] * 3 // 2), dtype=np.int32)
            grown[: comp.parent.shape[0]] = comp.parent
            comp = comp._replace(parent=grown)
        return comp


@nb.njit(cache=True, nogil=True)
def add_isolated(comp: Components, first: int, count: int) -> None:
    """Nodes ``first .. first + count - 1`` are new: each is a component of its own."""
    for x in range(first, first + count):
        lab = comp.meta[_LABELS]
        comp.parent[lab] = lab
        comp.label[x] = lab
        comp.meta[_LABELS] = lab + 1
        comp.meta[_COUNT] += 1


@nb.njit(cache=True, nogil=True)
def find(comp: Components, x: int) -> int:
    """Root label of node x (path halving)."""
    lab = comp.label[x]
    while comp.parent[lab] != lab:
        comp.parent[lab] = comp.parent[comp.parent[lab]]
        lab = comp.parent[lab]
    return int(lab)


@nb.njit(cache=True, nogil=True)
def union(comp: Components, a: int, b: int) -> bool:
    """Merge the components of nodes a and b; True when they were different."""
    ra = find(comp, a)
    rb = find(comp, b)
    if ra == rb:
        return False
    if ra < rb:
        comp.parent[rb] = ra
    else:
        comp.parent[ra] = rb
    comp.meta[_COUNT] -= 1
    return True


@nb.njit(cache=True, nogil=True)
def relabel_side(
    comp: Components,
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    root: int,
) -> int:
    """Give root's whole component (in the given adjacency) a fresh label; returns its size."""
    lab = comp.meta[_LABELS]
    comp.parent[lab] = lab
    comp.meta[_LABELS] = lab + 1
    comp.meta[_COUNT] += 1
    queue = [root]
    comp.label[root] = lab
    head = 0
    while head < len(queue):
        x = queue[head]
        head += 1
        for i in range(start[x], start[x] + deg[x]):
            y = nbr[i]
            if comp.label[y] != lab:
                comp.label[y] = lab
                queue.append(y)
    return len(queue)
