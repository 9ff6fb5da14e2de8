"""The walks of :mod:`sparsiflow.engine.walks.kernels`, vectorized over every (update, walker) pair.

Written once against an array namespace ``xp`` (NumPy or CuPy): the same code runs on the CPU
and on the GPU, step-synchronous (all live walkers advance one step per iteration, the set of
live walkers shrinking as they die). Step for step, the walks are those of the Numba kernels:
the same counter-based random words pick the same neighbours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsiflow.engine.walks.rng import index_below_xp, rand64_xp

__all__ = ["insertion_walks_xp", "path_walks_xp"]


def _advance(
    xp: Any, start: Any, deg: Any, nbr: Any, cur: Any, prev: Any, r: Any
) -> tuple[Any, Any]:
    """Entry index of each walker's next step and whether it is dead (cf. walks.step)."""
    d = deg[cur].astype(np.int64)
    first = prev < 0
    dead = (d == 0) | (~first & (d <= 1))
    choices = xp.where(first, d, d - 1)
    base = start[cur]
    i = base + index_below_xp(r, xp.maximum(choices, 1)).astype(np.int64)
    back = ~first & (nbr[xp.minimum(i, nbr.shape[0] - 1)] == prev)
    i = xp.where(back, base + d - 1, i)
    return i, dead


def insertion_walks_xp(
    xp: Any,
    start: Any,
    deg: Any,
    nbr: Any,
    wt: Any,
    p: Any,
    q: Any,
    w: Any,
    keys: Any,
    threshold: float,
    walkers: int,
    max_steps: int,
) -> tuple[Any, int]:
    """dyGRASS insertion test for many updates at once: (found per update, steps taken)."""
    n_updates = int(p.shape[0])
    update = xp.repeat(xp.arange(n_updates, dtype=np.int64), walkers)
    walker = xp.tile(xp.arange(walkers, dtype=np.int64), n_updates)
    cur = p[update].astype(np.int64)
    prev = xp.full(cur.shape, -1, dtype=np.int64)
    resistance = xp.zeros(cur.shape, dtype=np.float64)
    found = xp.zeros(n_updates, dtype=bool)
    steps = 0
    for t in range(max_steps):
        if cur.shape[0] == 0:
            break
        r = rand64_xp(keys[update], walker, xp.full(cur.shape, t, dtype=np.int64))
        i, dead = _advance(xp, start, deg, nbr, cur, prev, r)
        live = ~dead
        steps += int(live.sum())
        safe = xp.where(live, i, 0)
        nxt = nbr[safe].astype(np.int64)
        resistance = resistance + xp.where(live, 1.0 / xp.abs(wt[safe]), 0.0)
        over = w[update] * resistance >= threshold
        hit = live & ~over & (nxt == q[update])
        found[update[hit]] = True
        keep = live & ~over & ~hit
        update, walker, prev, cur = update[keep], walker[keep], cur[keep], nxt[keep]
        resistance = resistance[keep]
    return found, steps


def path_walks_xp(
    xp: Any,
    start: Any,
    deg: Any,
    nbr: Any,
    wt: Any,
    p: int,
    q: int,
    key: int,
    walkers: int,
    max_steps: int,
) -> tuple[int, int, int]:
    """Repair walks of one deletion: (walker of least resistance reaching q or -1, its length,
    steps taken). Ties go to the lowest walker index, as in the Numba kernel."""
    walker = xp.arange(walkers, dtype=np.int64)
    cur = xp.full(walkers, p, dtype=np.int64)
    prev = xp.full(walkers, -1, dtype=np.int64)
    resistance = xp.zeros(walkers, dtype=np.float64)
    arrived_r = xp.full(walkers, np.inf)
    arrived_len = xp.zeros(walkers, dtype=np.int64)
    key_word = np.uint64(key)
    steps = 0
    for t in range(max_steps):
        if cur.shape[0] == 0:
            break
        r = rand64_xp(key_word, walker, xp.full(cur.shape, t, dtype=np.int64))
        i, dead = _advance(xp, start, deg, nbr, cur, prev, r)
        live = ~dead
        steps += int(live.sum())
        safe = xp.where(live, i, 0)
        nxt = nbr[safe].astype(np.int64)
        resistance = resistance + xp.where(live, 1.0 / xp.abs(wt[safe]), 0.0)
        hit = live & (nxt == q)
        arrived_r[walker[hit]] = resistance[hit]
        arrived_len[walker[hit]] = t + 1
        keep = live & ~hit
        walker, prev, cur, resistance = walker[keep], cur[keep], nxt[keep], resistance[keep]
    best = int(xp.argmin(arrived_r))
    if not bool(xp.isfinite(arrived_r[best])):
        return -1, 0, steps
    return best, int(arrived_len[best]), steps
