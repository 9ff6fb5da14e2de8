"""The store's first state, from a snapshot of G: node numbering, the starting H, components.

Internal indices follow a reverse Cuthill-McKee order of G (neighbours sit close in memory, so
searches touch fewer cache lines; results do not depend on it). H is the given sparsifier, or
the static one (:mod:`sparsiflow.engine.bootstrap`) on the input's own numbering, so it does not
depend on the reordering either.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee

from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.engine.store.components import Components
from sparsiflow.engine.store.graph_store import GraphStore
from sparsiflow.engine.store.node_ids import IdMap

__all__ = ["components_of", "initial_store", "no_edges"]

Pairs = tuple[NDArray[np.integer], NDArray[np.integer]]


def initial_store(
    batch: UpdateBatch,
    extra: NDArray[np.int64],
    sparsifier: Pairs | None,
    off_tree_density: float,
    reorder: bool,
) -> tuple[NDArray[np.int64], GraphStore]:
    """External node ids in internal order and the store of G = ``batch`` (inserts of distinct
    edges; ``extra`` lists isolated nodes too) with H = ``sparsifier`` (a subgraph of G with
    its components) or the static sparsifier at ``off_tree_density``."""
    ids, a, b = _local_ids(extra, batch.u, batch.v)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = ids.shape[0]
    if np.unique(lo * n + hi).shape[0] != lo.shape[0]:
        raise InvalidUpdateError("the graph lists an edge more than once")
    if sparsifier is None:
        in_h = static_sparsifier(n, lo, hi, batch.w, off_tree_density)
    order = ids[reverse_cuthill_mckee(_adjacency(n, a, b), True)] if reorder else ids
    index = IdMap()
    index.add(order)
    ends = index.lookup(np.stack([batch.u, batch.v], axis=1).ravel()).reshape(-1, 2)
    lo, hi = ends.min(axis=1), ends.max(axis=1)
    if sparsifier is not None:
        in_h = _mask_of(index, lo, hi, *sparsifier)
    store = GraphStore.from_edges(n, lo, hi, batch.w, in_h)
    if _labels(n, lo[in_h], hi[in_h])[0] != _labels(n, lo, hi)[0]:
        raise InvalidUpdateError("the given sparsifier does not have the graph's components")
    return order, store


def components_of(store: GraphStore) -> Components:
    """Components of H (equal to G's by the invariant), from scratch."""
    lo, hi, _ = store.edges_of(only_h=True)
    count, labels = _labels(store.nodes, lo, hi)
    return Components.build(store.nodes, labels, count)


def no_edges() -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Empty edge columns (u, v, w)."""
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


def _mask_of(
    index: IdMap,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    hu: NDArray[np.integer],
    hv: NDArray[np.integer],
) -> NDArray[np.bool_]:
    """Rows of G (internal ``lo``, ``hi``) that are edges of the given H (external ids)."""
    ends = index.lookup(np.stack([np.asarray(hu), np.asarray(hv)], axis=1).ravel().astype(np.int64))
    ends = ends.reshape(-1, 2)
    n = len(index)
    h_keys = ends.min(axis=1) * n + ends.max(axis=1)
    in_h = np.isin(lo * n + hi, h_keys)
    if (ends < 0).any() or int(in_h.sum()) != np.unique(h_keys).shape[0]:
        raise InvalidUpdateError("the given sparsifier has edges that are not in the graph")
    return in_h


def _local_ids(
    extra: NDArray[np.int64], u: NDArray[np.int64], v: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Node ids in order of first appearance, and the edges' ends as indices into them."""
    uniq, first = np.unique(
        np.concatenate([extra, np.stack([u, v], axis=1).ravel()]), return_index=True
    )
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return uniq[order], rank[np.searchsorted(uniq, u)], rank[np.searchsorted(uniq, v)]


def _adjacency(n: int, a: NDArray[np.int64], b: NDArray[np.int64]) -> csr_matrix:
    return coo_matrix((np.ones(2 * a.shape[0]), (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()


def _labels(n: int, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> tuple[int, NDArray[np.int32]]:
    adjacency = coo_matrix((np.ones(lo.shape[0]), (lo, hi)), shape=(n, n))
    count, labels = connected_components(adjacency, directed=False)
    return int(count), labels.astype(np.int32)
