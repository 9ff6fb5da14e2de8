"""Exact elimination of the rows with at most two off-diagonal entries (partial Cholesky).

A sparsifier H is a spanning tree plus a few off-tree edges. In its grounded Laplacian the
tree's leaves are rows with one off-diagonal entry, its paths rows with two: eliminating such
a row is a leaf's removal or a series reduction (two edges become one), the Schur complement
keeps the pattern no denser, and repeating it leaves a *core* of at most about twice as many
rows as there are off-tree edges (every core row keeps three entries or more). Solvers for
Laplacians start this way (greedy elimination of ultra-sparsifiers); here the core is then
factorized by SuperLU. At 2^18 nodes (Delaunay, H at 10 % off-tree edges) the core has about
a sixth of the rows.

The elimination is Gaussian elimination without pivoting on a symmetric positive definite
matrix, so it is as stable as Cholesky; it only chooses which rows go first.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["Elimination", "eliminate"]


class Elimination:
    """The eliminated rows in order, each with its (up to two) partners, and the core.

    order[k]: the row eliminated k-th; partner[k, :], coupling[k, :]: its off-diagonal
    entries at that time (partner -1 where it had only one, or none); pivot[k]: its diagonal
    then. core: the rows left, ascending; core_matrix: their Schur complement (CSC).
    """

    def __init__(
        self,
        order: NDArray[np.int64],
        partner: NDArray[np.int64],
        coupling: NDArray[np.float64],
        pivot: NDArray[np.float64],
        core: NDArray[np.int64],
        core_matrix: sp.csc_matrix,
    ) -> None:
        self.order, self.partner, self.coupling, self.pivot = order, partner, coupling, pivot
        self.core, self.core_matrix = core, core_matrix
        self.factor = coupling / pivot[:, None]  # what the forward pass multiplies by
        self._ones = np.ones(pivot.shape[0])
        self._inverse = 1.0 / pivot
        self._inverse_root = 1.0 / np.sqrt(pivot)

    def forward(self, rhs: NDArray[np.float64]) -> None:
        """Apply the eliminations to a right-hand side (a contiguous vector), in place."""
        _forward(self.order, self.partner, self.factor, self._ones, rhs)

    def backward(self, rhs: NDArray[np.float64], x: NDArray[np.float64]) -> None:
        """Fill the eliminated rows of ``x`` (whose core rows are solved) from the
        forward-updated ``rhs`` (contiguous vectors), in place."""
        _backward(self.order, self.partner, self.coupling, self._ones, self._inverse, rhs, x)

    def half_forward(self, rhs: NDArray[np.float64]) -> None:
        """:meth:`forward`, then each eliminated row divided by the square root of its pivot:
        the eliminated rows of ``C^{-1} rhs`` for the split ``A = C C'`` (in place)."""
        _forward(self.order, self.partner, self.factor, self._inverse_root, rhs)

    def half_backward(self, y: NDArray[np.float64], x: NDArray[np.float64]) -> None:
        """Fill the eliminated rows of ``x = C'^{-1} y`` (whose core rows are done) from
        ``y``'s eliminated rows, in place: the transpose of :meth:`half_forward`."""
        _backward(self.order, self.partner, self.factor, self._inverse_root, self._ones, y, x)


def eliminate(matrix: sp.csc_matrix) -> Elimination:
    """Eliminate, in a greedy order, every row with at most two off-diagonal entries of the
    symmetric positive definite ``matrix`` (and those that reach that count on the way)."""
    coo = sp.triu(matrix, k=1, format="coo")
    n = matrix.shape[0]
    diagonal = np.asarray(matrix.diagonal(), dtype=np.float64).copy()
    order, partner, coupling, pivot, eu, ev, ec, alive = _eliminate(
        n,
        coo.row.astype(np.int64),
        coo.col.astype(np.int64),
        coo.data.astype(np.float64),
        diagonal,
    )
    gone = np.zeros(n, np.bool_)
    gone[order] = True
    core = np.flatnonzero(~gone)
    index = np.full(n, -1, np.int64)
    index[core] = np.arange(core.shape[0])
    iu, iv, c = index[eu[alive]], index[ev[alive]], ec[alive]
    size = core.shape[0]
    rows = np.concatenate([iu, iv, np.arange(size)])
    cols = np.concatenate([iv, iu, np.arange(size)])
    values = np.concatenate([c, c, diagonal[core]])
    core_matrix = sp.csc_matrix((values, (rows, cols)), shape=(size, size))
    return Elimination(order, partner, coupling, pivot, core, core_matrix)


@nb.njit(cache=True, nogil=True)
def _eliminate(
    n: int,
    row: NDArray[np.int64],
    col: NDArray[np.int64],
    value: NDArray[np.float64],
    diagonal: NDArray[np.float64],
) -> tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.bool_],
]:
    """Greedy elimination; ``diagonal`` is updated in place to the core's Schur complement.
    Entries live in an edge list (each series reduction appends one) with a linked list of
    slots per row; a row's list is read only when the row is eliminated."""
    m = row.shape[0]
    cap = m + n  # each elimination appends at most one entry
    eu = np.empty(cap, np.int64)
    ev = np.empty(cap, np.int64)
    ec = np.empty(cap, np.float64)
    alive = np.zeros(cap, np.bool_)
    head = np.full(n, -1, np.int64)
    link = np.empty(2 * cap, np.int64)  # slot 2e (end u of entry e) and 2e+1 (end v)
    degree = np.zeros(n, np.int64)
    count = 0

    for e in range(m):
        eu[count], ev[count], ec[count], alive[count] = row[e], col[e], value[e], True
        link[2 * count], head[row[e]] = head[row[e]], 2 * count
        link[2 * count + 1], head[col[e]] = head[col[e]], 2 * count + 1
        degree[row[e]] += 1
        degree[col[e]] += 1
        count += 1

    order = np.empty(n, np.int64)
    partner = np.full((n, 2), -1, np.int64)
    coupling = np.zeros((n, 2), np.float64)
    pivot = np.empty(n, np.float64)
    done = np.zeros(n, np.bool_)
    stack = np.empty(n + 2 * n, np.int64)  # every row once, plus at most two pushes per step
    top = 0
    for x in range(n):
        if degree[x] <= 2:
            stack[top] = x
            top += 1
    eliminated = 0
    while top > 0:
        top -= 1
        x = stack[top]
        if done[x] or degree[x] > 2:
            continue
        found = 0
        end0, end1, c0, c1 = -1, -1, 0.0, 0.0
        slot = head[x]
        while slot >= 0 and found < degree[x]:
            e = slot >> 1
            if alive[e]:
                end = ev[e] if slot & 1 == 0 else eu[e]
                if found == 0:
                    end0, c0 = end, ec[e]
                else:
                    end1, c1 = end, ec[e]
                alive[e] = False
                found += 1
            slot = link[slot]
        if found == 2 and end0 == end1:  # two entries to one row: one coupling
            c0 += c1
            end1, c1 = -1, 0.0
            degree[end0] -= 1
            found = 1
        d = diagonal[x]
        if found >= 1:
            diagonal[end0] -= c0 * c0 / d
            degree[end0] -= 1
        if found == 2:  # series: a new entry between the two partners
            diagonal[end1] -= c1 * c1 / d
            degree[end1] -= 1
            eu[count], ev[count], ec[count], alive[count] = end0, end1, -c0 * c1 / d, True
            link[2 * count], head[end0] = head[end0], 2 * count
            link[2 * count + 1], head[end1] = head[end1], 2 * count + 1
            degree[end0] += 1
            degree[end1] += 1
            count += 1
        degree[x] = 0
        done[x] = True
        order[eliminated] = x
        partner[eliminated, 0], partner[eliminated, 1] = end0, end1
        coupling[eliminated, 0], coupling[eliminated, 1] = c0, c1
        pivot[eliminated] = d
        eliminated += 1
        for end in (end0, end1):
            if end >= 0 and not done[end] and degree[end] <= 2:
                stack[top] = end
                top += 1
    return (
        order[:eliminated],
        partner[:eliminated],
        coupling[:eliminated],
        pivot[:eliminated],
        eu[:count],
        ev[:count],
        ec[:count],
        alive[:count],
    )


@nb.njit(cache=True, nogil=True)
def _forward(
    order: NDArray[np.int64],
    partner: NDArray[np.int64],
    factor: NDArray[np.float64],
    scale: NDArray[np.float64],
    rhs: NDArray[np.float64],
) -> None:
    """Each eliminated row, final when its turn comes, updates its partners, then is scaled."""
    for k in range(order.shape[0]):
        value = rhs[order[k]]
        for j in range(2):
            p = partner[k, j]
            if p >= 0:
                rhs[p] -= factor[k, j] * value
        rhs[order[k]] = value * scale[k]


@nb.njit(cache=True, nogil=True)
def _backward(
    order: NDArray[np.int64],
    partner: NDArray[np.int64],
    coupling: NDArray[np.float64],
    before: NDArray[np.float64],
    after: NDArray[np.float64],
    rhs: NDArray[np.float64],
    x: NDArray[np.float64],
) -> None:
    """In reverse order: ``x[row] = (rhs[row] * before - sum coupling * x[partner]) * after``."""
    for k in range(order.shape[0] - 1, -1, -1):
        total = rhs[order[k]] * before[k]
        for j in range(2):
            p = partner[k, j]
            if p >= 0:
                total -= coupling[k, j] * x[p]
        x[order[k]] = total * after[k]
