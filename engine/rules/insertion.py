"""Insertion rules: is a new (or strengthened) edge spectrally critical for H?

* ``default`` (:func:`judge_exact`): an edge (p, q, w) is critical when H's p-q resistance is
  at least K times G's: ``R_H(p, q) >= K * R_G(p, q)`` (G with the edge). Any pair certifies
  ``kappa >= R_H / R_G`` (``x' L_H x >= x' L_G x / lambda_max`` for every x), so the edges
  that enter are exactly those whose pair would prove kappa above K. Both resistances are
  bounded by exact least-resistance paths (bidirectional Dijkstra, lengths 1/w) combined in
  parallel (1/R <= sum 1/R_i over edge-disjoint paths, valid by Rayleigh monotonicity): in H
  up to k paths, pruned at the bound; in G the edge itself and up to k - 1 other paths.
  Bounding R_G by the edge alone (1/w) gives the distortion rule ``w * R_H >= K``; the other
  G paths matter where a light edge joins nodes that G already connects well but H does not.
  Edges are judged one after the other against the current H (edges accepted earlier in the
  batch count). Before that, :func:`surely_redundant` settles most non-critical edges with one
  H search against a lower bound of R_G read off the end nodes' edge weights (no G search).
* ``dygrass`` (:func:`walks_many`): the paper's rule. W uniform non-backtracking walkers of at
  most T steps from p in H as it was when the batch's insertions began; critical unless one
  reaches q with ``w * R < K``.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.rules.search import (
    COST_G_REPAIR,
    COST_H,
    Workspace,
    bidirectional,
    trace_path,
)
from sparsiflow.engine.store.components import Components, find, union
from sparsiflow.engine.store.layout import (
    Arrays,
    g_entry,
    g_find,
    g_in_h,
    h_add,
    h_entry,
    room_for_edge,
)
from sparsiflow.engine.walks.kernels import insertion_walks

__all__ = [
    "STAT_SETTLED",
    "STAT_STEPS",
    "add_critical",
    "g_conductance_cap",
    "judge_exact",
    "needs_walks",
    "surely_redundant",
    "walks_many",
]

STAT_SETTLED, STAT_STEPS = 0, 1  # slots of the work counters
G_REACH = 4.0  # G paths longer than G_REACH / w (each worth < 1/G_REACH of the edge) are not sought


@nb.njit(cache=True, nogil=True)
def path_budget(
    need: float, conductance: float, paths: int, j: int, bound: float
) -> tuple[float, float]:
    """Search radius and early-accept length of the j-th parallel path.

    A path shorter than ``accept`` closes the gap to the needed conductance by itself; one
    longer than ``radius`` cannot help even with the remaining paths as good as it. Radii are
    capped at ``paths * bound`` so an exactly-closed gap never means an unbounded search.
    """
    gap = need - conductance
    if gap <= 0.0:
        return paths * bound, np.inf
    return min((paths - j) / gap, paths * bound), 1.0 / gap


@nb.njit(cache=True, nogil=True)
def low_resistance(
    s: Arrays, ws: Workspace, p: int, q: int, bound: float, paths: int, stats: NDArray[np.int64]
) -> bool:
    """Whether H's p-q resistance is provably below ``bound`` using up to ``paths`` paths."""
    if paths == 1:
        length, _, _, settled = bidirectional(
            s.h_start, s.h_deg, s.h_nbr, s.h_wt, ws, p, q, bound, bound, COST_H, 1.0
        )
        stats[STAT_SETTLED] += settled
        return length < bound
    need = 1.0 / bound
    conductance = 0.0
    blocked: list[int] = []
    accepted = False
    for j in range(paths):
        radius, accept = path_budget(need, conductance, paths, j, bound)
        length, meet, _, settled = bidirectional(
            s.h_start, s.h_deg, s.h_nbr, s.h_wt, ws, p, q, radius, accept, COST_H, 1.0
        )
        stats[STAT_SETTLED] += settled
        if not np.isfinite(length):
            break
        conductance += 1.0 / length
        if conductance > need:
            accepted = True
            break
        if j + 1 < paths:
            path = trace_path(ws, meet)
            for k in range(path.shape[0] - 1):
                for x, y in ((path[k], path[k + 1]), (path[k + 1], path[k])):
                    i = h_entry(s, x, y)
                    s.h_wt[i] = -s.h_wt[i]
                    blocked.append(i)
    for i in blocked:
        s.h_wt[i] = -s.h_wt[i]
    return accepted


@nb.njit(cache=True, nogil=True)
def g_resistance(
    s: Arrays, ws: Workspace, p: int, q: int, w: float, paths: int, stats: NDArray[np.int64]
) -> float:
    """Upper bound of G's p-q resistance: edge p-q (weight w, in G) in parallel with up to
    ``paths - 1`` other edge-disjoint paths shorter than ``G_REACH / w``."""
    blocked: list[tuple[int, float]] = []
    slot = g_find(s, p, q)
    conductance = w
    for j in range(paths):
        if j == 0:
            path = np.array([p, q], np.int32)
        else:
            length, meet, _, settled = bidirectional(
                s.g_start, s.g_deg, s.g_nbr, s.g_wt, ws, p, q, G_REACH / w, 0.0, COST_G_REPAIR, 1.0
            )
            stats[STAT_SETTLED] += settled
            if not np.isfinite(length):
                break
            conductance += 1.0 / length
            if j + 1 == paths:
                break
            path = trace_path(ws, meet)
        for k in range(path.shape[0] - 1):
            edge = slot if j == 0 else g_find(s, path[k], path[k + 1])
            for x in (path[k], path[k + 1]):
                i = g_entry(s, edge, x)
                blocked.append((i, s.g_wt[i]))
                s.g_wt[i] = 0.0  # blocked for the next searches
    for i, weight in blocked:
        s.g_wt[i] = weight
    return 1.0 / conductance


@nb.njit(cache=True, nogil=True)
def _top_weights(s: Arrays, x: int, other: int, top: NDArray[np.float64]) -> None:
    """The ``top.shape[0]`` largest weights of x's G edges other than x-other, descending
    (zeros where x has fewer)."""
    top[:] = 0.0
    base = s.g_start[x]
    for i in range(s.g_deg[x]):
        if s.g_nbr[base + i] == other:
            continue
        v = abs(s.g_wt[base + i])
        j = top.shape[0]
        while j > 0 and top[j - 1] < v:
            j -= 1
        if j < top.shape[0]:
            for k in range(top.shape[0] - 1, j, -1):
                top[k] = top[k - 1]
            top[j] = v


@nb.njit(cache=True, nogil=True)
def g_conductance_cap(
    s: Arrays, p: int, q: int, at_p: NDArray[np.float64], at_q: NDArray[np.float64]
) -> float:
    """Most conductance that k edge-disjoint p-q paths of G other than edge p-q can add (k the
    length of the scratch arrays ``at_p`` and ``at_q``).

    Such paths leave p by distinct edges and enter q by distinct edges, and a path whose end
    edges weigh a and b conducts at most ``ab / (a + b)``; that is increasing and supermodular
    in (a, b), so pairing the i-th heaviest edge at p with the i-th heaviest at q bounds the sum.
    """
    _top_weights(s, p, q, at_p)
    _top_weights(s, q, p, at_q)
    cap = 0.0
    for j in range(at_p.shape[0]):
        if at_p[j] > 0.0 and at_q[j] > 0.0:
            cap += at_p[j] * at_q[j] / (at_p[j] + at_q[j])
    return cap


@nb.njit(cache=True, nogil=True)
def surely_redundant(
    s: Arrays,
    ws: Workspace,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    threshold: float,
    paths: int,
    redundant: NDArray[np.bool_],
    stats: NDArray[np.int64],
) -> None:
    """Flag the edges the default rule rejects whatever the G searches find, cheaply.

    G's resistance with the edge is at least ``1 / (w + cap)`` (:func:`g_conductance_cap`), so
    one H path shorter than ``threshold / (w + cap)`` settles it: :func:`judge_exact` would find
    such a path (or a better set) below its own bound. H only gains edges while a batch's
    insertions are judged, so flags computed against H at the start stay true.
    """
    at_p, at_q = np.empty(paths - 1), np.empty(paths - 1)
    for i in range(lo.shape[0]):
        cap = g_conductance_cap(s, lo[i], hi[i], at_p, at_q)
        bound = threshold / (w[i] + cap) * (1.0 - 1e-9)
        length, _, _, settled = bidirectional(
            s.h_start, s.h_deg, s.h_nbr, s.h_wt, ws, lo[i], hi[i], bound, bound, COST_H, 1.0
        )
        stats[STAT_SETTLED] += settled
        if ws.meta[1]:
            ws.meta[1] = 0  # heap too small for this one: judge_exact decides it
            continue
        redundant[i] = length < bound


@nb.njit(cache=True, nogil=True)
def judge_exact(
    s: Arrays,
    ws: Workspace,
    comp: Components,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    redundant: NDArray[np.bool_],
    critical: NDArray[np.bool_],
    begin: int,
    threshold: float,
    paths: int,
    stats: NDArray[np.int64],
) -> int:
    """Default rule, in order, skipping edges flagged ``redundant``; critical edges enter H at
    once. Returns where it stopped (``lo.shape[0]`` when done; earlier when H needs room or the
    search heap overflowed)."""
    for i in range(begin, lo.shape[0]):
        a, b = lo[i], hi[i]
        if redundant[i] or g_in_h(s, g_find(s, a, b)):
            continue
        if not room_for_edge(s, a, b, True):
            return i
        crit = find(comp, a) != find(comp, b)
        if not crit:
            bound = threshold * g_resistance(s, ws, a, b, w[i], paths, stats)
            crit = not ws.meta[1] and not low_resistance(s, ws, a, b, bound, paths, stats)
            if ws.meta[1]:
                return i
        if crit:
            h_add(s, a, b, w[i])
            union(comp, a, b)
            critical[i] = True
    return len(lo)


@nb.njit(cache=True, nogil=True)
def needs_walks(
    s: Arrays,
    comp: Components,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    critical: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """dyGRASS rule, the part without walks: edges already in H are not critical, edges
    between components are; the rest (returned mask) is decided by the walks."""
    walk = np.zeros(lo.shape[0], np.bool_)
    for i in range(lo.shape[0]):
        if g_in_h(s, g_find(s, lo[i], hi[i])):
            continue
        if find(comp, lo[i]) != find(comp, hi[i]):
            critical[i] = True
        else:
            walk[i] = True
    return walk


@nb.njit(cache=True, nogil=True)
def walks_many(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    p: NDArray[np.int64],
    q: NDArray[np.int64],
    w: NDArray[np.float64],
    keys: NDArray[np.uint64],
    threshold: float,
    walkers: int,
    max_steps: int,
) -> tuple[NDArray[np.bool_], int]:
    """The dyGRASS insertion walks of many updates (Numba backend): (found, steps)."""
    found = np.zeros(p.shape[0], np.bool_)
    steps = 0
    for i in range(p.shape[0]):
        hit, taken = insertion_walks(
            start, deg, nbr, wt, p[i], q[i], w[i], threshold, walkers, max_steps, keys[i], False
        )
        found[i] = hit
        steps += taken
    return found, steps


@nb.njit(cache=True, nogil=True)
def add_critical(
    s: Arrays,
    comp: Components,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    w: NDArray[np.float64],
    critical: NDArray[np.bool_],
    begin: int,
) -> int:
    """Add the edges flagged critical to H, in order; returns where it stopped for room."""
    for i in range(begin, lo.shape[0]):
        if not critical[i] or g_in_h(s, g_find(s, lo[i], hi[i])):
            continue
        if not room_for_edge(s, lo[i], hi[i], True):
            return i
        h_add(s, lo[i], hi[i], w[i])
        union(comp, lo[i], hi[i])
    return len(lo)
