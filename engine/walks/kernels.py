"""Non-backtracking random walks, the dyGRASS primitive (Numba kernels).

A walker never steps straight back to the node it just left; at a leaf it dies. Neighbours are
chosen uniformly (weight-blind), from the counter-based stream ``rand64(key, walker, step)``.
The same walks, step for step, are computed by the array-namespace kernels in
``sparsiflow.engine.walks.vectorized`` (NumPy / CuPy); the tests compare them.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.walks.rng import index_below, rand64

__all__ = ["insertion_walks", "path_walks", "replay_walk", "step", "walk"]


@nb.njit(cache=True, nogil=True, inline="always")
def step(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    cur: int,
    prev: int,
    r: np.uint64,
) -> int:
    """Entry index of the next step from ``cur`` (having come from ``prev``), or -1 (dead)."""
    d = deg[cur]
    base = start[cur]
    if prev < 0:
        return int(base + index_below(r, d)) if d > 0 else -1
    if d <= 1:
        return -1
    i = base + index_below(r, d - 1)
    if nbr[i] == prev:
        i = base + d - 1
    return int(i)


@nb.njit(cache=True, nogil=True, inline="always")
def walk(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    p: int,
    q: int,
    w: float,
    threshold: float,
    max_steps: int,
    key: np.uint64,
    walker: int,
) -> tuple[int, float, int]:
    """One walker from p: (length when it reached q, else -1; its resistance; steps taken).

    It dies at a leaf, after ``max_steps`` steps, or once ``w * R >= threshold`` (pass
    ``w = 0`` for no threshold).
    """
    cur, prev, resistance = p, -1, 0.0
    for t in range(max_steps):
        i = step(start, deg, nbr, cur, prev, rand64(key, walker, t))
        if i < 0:
            return -1, resistance, t
        resistance += 1.0 / abs(wt[i])
        if w * resistance >= threshold:
            return -1, resistance, t + 1
        if nbr[i] == q:
            return t + 1, resistance, t + 1
        prev, cur = cur, nbr[i]
    return -1, resistance, max_steps


@nb.njit(cache=True, nogil=True)
def insertion_walks(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    p: int,
    q: int,
    w: float,
    threshold: float,
    walkers: int,
    max_steps: int,
    key: np.uint64,
    early_exit: bool,
) -> tuple[bool, int]:
    """dyGRASS insertion test: does any walker from p reach q with w * R < threshold?

    Returns (found, steps). Without ``early_exit`` every walker runs to its end, as the
    reference's GPU kernel does; the answer is the same either way.
    """
    found = False
    steps = 0
    for walker in range(walkers):
        length, _, taken = walk(start, deg, nbr, wt, p, q, w, threshold, max_steps, key, walker)
        steps += taken
        found = found or length > 0
        if found and early_exit:
            break
    return found, steps


@nb.njit(cache=True, nogil=True)
def path_walks(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    wt: NDArray[np.float64],
    p: int,
    q: int,
    walkers: int,
    max_steps: int,
    key: np.uint64,
) -> tuple[int, int, int]:
    """dyGRASS deletion repair walks: the walker reaching q with the least resistance.

    Returns (walker, length, steps): walker is -1 when none arrived within max_steps.
    """
    best_walker, best_len = -1, 0
    best_r = np.inf
    steps = 0
    for walker in range(walkers):
        length, resistance, taken = walk(
            start, deg, nbr, wt, p, q, 0.0, 1.0, max_steps, key, walker
        )
        steps += taken
        if length > 0 and resistance < best_r:
            best_r, best_walker, best_len = resistance, walker, length
    return best_walker, best_len, steps


@nb.njit(cache=True, nogil=True)
def replay_walk(
    start: NDArray[np.int64],
    deg: NDArray[np.int32],
    nbr: NDArray[np.int32],
    p: int,
    length: int,
    walker: int,
    key: np.uint64,
) -> NDArray[np.int32]:
    """Nodes visited by ``walker`` in its first ``length`` steps (p first): no path storage."""
    nodes = np.empty(length + 1, np.int32)
    nodes[0] = p
    cur, prev = p, -1
    for t in range(length):
        i = step(start, deg, nbr, cur, prev, rand64(key, walker, t))
        prev, cur = cur, nbr[i]
        nodes[t + 1] = cur
    return nodes
