"""Deletions: remove edges from G (and H), and repair H so it keeps G's components.

Edges outside H leave G first: that cannot disconnect anything, since H still connects their
ends. Then each deleted H edge (p, q) is removed from H and G and repaired in the current G,
one at a time (so H and G have equal components after every step). An H edge whose weight
was lowered a lot is a partial deletion: it stays in H at its new weight and gets the same
repair, searched while it is out of G (an edge G needs to connect its ends gets none):

* ``default``: least-cost p-q path in G where an edge already in H costs ``discount / w`` and
  any other ``1 / w`` (bidirectional Dijkstra, a simple path); its edges missing from H are
  added. No threshold, no step limit: when the search exhausts one side, p and q are
  disconnected in G and that side gets a fresh component label.
* ``dygrass``: W non-backtracking walkers of T steps from p in G; the walk of least resistance
  that reaches q is replayed from its RNG key and every edge on it that H lacks is added. When
  no walker arrives, the default search is the guaranteed fallback.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.rules.insertion import STAT_SETTLED, STAT_STEPS
from sparsiflow.engine.rules.search import COST_G_REPAIR, Workspace, bidirectional, trace_path
from sparsiflow.engine.store.components import Components, relabel_side
from sparsiflow.engine.store.layout import (
    H_TAIL,
    NEED,
    Arrays,
    g_add,
    g_find,
    g_in_h,
    g_remove,
    g_set,
    g_weight,
    h_add,
    h_remove,
)
from sparsiflow.engine.walks.kernels import path_walks, replay_walk

__all__ = ["STAT_FALLBACKS", "STAT_SPLITS", "EdgeBuffer", "delete_and_repair"]

STAT_SPLITS, STAT_FALLBACKS = 2, 3


class EdgeBuffer(NamedTuple):
    """Output edges of a kernel: ``used[0]`` rows filled; ``used[1]`` set when it was full."""

    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    w: NDArray[np.float64]
    used: NDArray[np.int64]

    @staticmethod
    def new(size: int) -> EdgeBuffer:
        return EdgeBuffer(
            np.zeros(size, np.int64),
            np.zeros(size, np.int64),
            np.zeros(size),
            np.zeros(2, np.int64),
        )

    def enlarged(self) -> EdgeBuffer:
        """Twice the room, same content, the full flag cleared."""
        size = 2 * self.lo.shape[0]
        more = EdgeBuffer.new(size)
        used = int(self.used[0])
        more.lo[:used], more.hi[:used], more.w[:used] = (
            self.lo[:used],
            self.hi[:used],
            self.w[:used],
        )
        more.used[0] = used
        return more

    def rows(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        used = int(self.used[0])
        return self.lo[:used], self.hi[:used], self.w[:used]


@nb.njit(cache=True, nogil=True)
def _room_for_path(s: Arrays, path: NDArray[np.int32]) -> bool:
    """Whether H has tail room for the path's missing edges (else asks for it in NEED)."""
    need = 0
    for k in range(path.shape[0] - 1):
        if not g_in_h(s, g_find(s, path[k], path[k + 1])):
            need += 2 * (s.h_cap[path[k]] + s.h_cap[path[k + 1]]) + 16
    if s.meta[H_TAIL] + need <= s.h_nbr.shape[0]:
        return True
    s.meta[NEED] = need
    return False


@nb.njit(cache=True, nogil=True)
def _reconnect(
    s: Arrays,
    ws: Workspace,
    comp: Components,
    a: int,
    b: int,
    key: np.uint64,
    split: bool,
    walks: bool,
    walkers: int,
    max_steps: int,
    discount: float,
    added: EdgeBuffer,
    stats: NDArray[np.int64],
) -> bool:
    """Find an a-b path in G (a-b itself is not in G now) and add its edges H lacks; with
    ``split``, an a-b pair G no longer connects gets a fresh component label on one side.
    False when it needs room in the store, the search heap or ``added`` (nothing changed)."""
    path = np.empty(0, np.int32)
    if walks:
        walker, length, steps = path_walks(
            s.g_start, s.g_deg, s.g_nbr, s.g_wt, a, b, walkers, max_steps, key
        )
        stats[STAT_STEPS] += steps
        if walker >= 0:
            path = replay_walk(s.g_start, s.g_deg, s.g_nbr, a, length, walker, key)
        else:
            stats[STAT_FALLBACKS] += 1
    if path.shape[0] == 0:
        _, meet, exhausted, settled = bidirectional(
            s.g_start, s.g_deg, s.g_nbr, s.g_wt, ws, a, b, np.inf, 0.0, COST_G_REPAIR, discount
        )
        stats[STAT_SETTLED] += settled
        if ws.meta[1]:
            return False
        if meet < 0:
            if split:
                relabel_side(comp, s.g_start, s.g_deg, s.g_nbr, a if exhausted == 0 else b)
                stats[STAT_SPLITS] += 1
            return True
        path = trace_path(ws, meet)
    if not _room_for_path(s, path):
        return False
    if added.used[0] + path.shape[0] > added.lo.shape[0]:
        added.used[1] = 1  # the caller enlarges the buffer and resumes here
        return False
    for k in range(path.shape[0] - 1):
        x, y = path[k], path[k + 1]
        slot = g_find(s, x, y)
        if not g_in_h(s, slot):
            w = g_weight(s, slot)
            h_add(s, x, y, w)
            c = added.used[0]
            added.lo[c], added.hi[c], added.w[c] = min(x, y), max(x, y), w
            added.used[0] = c + 1
    return True


@nb.njit(cache=True, nogil=True)
def delete_and_repair(
    s: Arrays,
    ws: Workspace,
    comp: Components,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    keep: NDArray[np.bool_],
    done: NDArray[np.bool_],
    keys: NDArray[np.uint64],
    begin: int,
    walks: bool,
    walkers: int,
    max_steps: int,
    discount: float,
    added: EdgeBuffer,
    stats: NDArray[np.int64],
) -> int:
    """Repair H edges lo[i]-hi[i] one by one: each is deleted from H and G, or, where
    ``keep[i]``, left in H at its (lowered) weight and taken out of G only while the path
    around it is found. ``added`` collects the edges put into H. Returns where it stopped
    (``lo.shape[0]`` when done) for room in the store, the search heap or ``added``."""
    for i in range(begin, lo.shape[0]):
        a, b = lo[i], hi[i]
        w = 0.0
        if keep[i]:
            slot = g_find(s, a, b)
            w = g_weight(s, slot)
            g_remove(s, slot)
        elif not done[i]:
            h_remove(s, a, b)
            g_remove(s, g_find(s, a, b))
            done[i] = True
        found = _reconnect(
            s, ws, comp, a, b, keys[i], not keep[i], walks, walkers, max_steps, discount, added,
            stats,
        )  # fmt: skip
        if keep[i]:
            g_add(s, a, b, w)  # its two G blocks each just lost this entry: room is there
            g_set(s, g_find(s, a, b), w, True)
        if not found:
            return i
    return len(lo)
