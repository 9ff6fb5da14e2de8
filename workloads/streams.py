"""Update streams: the paper's benchmark protocol over a graph, and random spanning forests."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import minimum_spanning_tree

from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch

__all__ = ["UpdateStream", "spanning_forest", "update_stream"]


class UpdateStream(NamedTuple):
    """A base graph and the updates to apply to it, in order (``w`` is NaN for deletes)."""

    base: EdgeList
    ops: NDArray[np.int8]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    w: NDArray[np.float64]

    def batch(self) -> UpdateBatch:
        """The updates as one (valid) batch."""
        return UpdateBatch(self.ops, self.u, self.v, self.w)


def spanning_forest(edges: EdgeList, seed: int = 0) -> NDArray[np.bool_]:
    """Row mask of a random spanning forest (minimum spanning forest under random keys)."""
    keys = np.random.default_rng([seed, 2]).permutation(edges.m).astype(np.float64) + 1.0
    upper = sp.csr_matrix((keys, (edges.u, edges.v)), shape=(edges.n, edges.n))
    forest = minimum_spanning_tree(upper).tocoo()
    mask = np.zeros(edges.m, dtype=np.bool_)
    order = np.argsort(keys)
    mask[order[forest.data.astype(np.int64) - 1]] = True
    return mask


def update_stream(
    full: EdgeList, insert_frac: float = 0.25, delete_frac: float = 0.01, seed: int = 0
) -> UpdateStream:
    """The dyGRASS benchmark protocol on a graph ``full``.

    ``round(insert_frac * n)`` edges outside a random spanning forest are removed from
    ``full`` (so ``base`` keeps its components) and become *local* insertions, in random order;
    then ``round(delete_frac * n)`` edges of the final graph, outside that forest, are deleted
    (so the graph never loses connectivity). Raises ValueError when ``full`` has too few
    edges outside the forest.
    """
    if insert_frac < 0 or delete_frac < 0:
        raise ValueError("insert_frac and delete_frac must be >= 0")
    rng = np.random.default_rng([seed, 3])
    spare = np.flatnonzero(~spanning_forest(full, seed))
    inserts, deletes = round(insert_frac * full.n), round(delete_frac * full.n)
    if max(inserts, deletes) > spare.shape[0]:
        raise ValueError(
            f"the graph has {spare.shape[0]} edges outside a spanning forest; "
            f"{inserts} insertions and {deletes} deletions were asked for"
        )
    added = rng.choice(spare, inserts, replace=False)
    removed = rng.choice(spare, deletes, replace=False)
    base = np.ones(full.m, dtype=np.bool_)
    base[added] = False
    rows = np.concatenate([added, removed])
    w = np.concatenate([full.w[added], np.full(deletes, np.nan)])
    ops = np.concatenate([np.full(inserts, Op.INSERT), np.full(deletes, Op.DELETE)])
    return UpdateStream(full.subset(base), ops.astype(np.int8), full.u[rows], full.v[rows], w)
