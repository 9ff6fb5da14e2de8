"""Checks shared by engine tests: the invariants that must hold after every batch."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sparsiflow.connector.wire.deltas import delta_lists
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.results import Delta

__all__ = ["check_invariants", "replay_delta"]


def _components(
    u: NDArray[np.int64], v: NDArray[np.int64], index: dict[int, int]
) -> NDArray[np.int32]:
    n = len(index)
    a = np.array([index[x] for x in u], np.int64)
    b = np.array([index[x] for x in v], np.int64)
    _, labels = connected_components(
        coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)), directed=False
    )
    return labels


def check_invariants(engine: Engine, replayed: dict[tuple[int, int], float]) -> None:
    """H subgraph of G with G's weights; equal components; the deltas replay to H."""
    gu, gv, gw = engine.graph_edges()
    hu, hv, hw = engine.sparsifier_edges()
    g = {(int(a), int(b)): float(c) for a, b, c in zip(gu, gv, gw, strict=True)}
    h = {(int(a), int(b)): float(c) for a, b, c in zip(hu, hv, hw, strict=True)}
    assert all(g.get(e) == w for e, w in h.items()), "H is not a subgraph of G with G's weights"
    assert replayed == h, "replaying the deltas does not give H"
    nodes = sorted({x for e in g for x in e} | {x for e in h for x in e})
    index = {x: i for i, x in enumerate(nodes)}
    cg = _components(gu, gv, index)
    ch = _components(hu, hv, index)
    pairs = set(zip(cg.tolist(), ch.tolist(), strict=True))
    assert len(pairs) == len(set(cg.tolist())) == len(set(ch.tolist())), "components differ"
    isolated = engine.stats().nodes - len(nodes)
    assert engine.stats().components == len(set(cg.tolist())) + isolated


def replay_delta(replayed: dict[tuple[int, int], float], delta: Delta) -> None:
    """Apply a delta to a dict copy of H, checking it fits (removals present, additions new)."""
    lists = delta_lists(delta)
    for a, b in lists["removed"]:
        del replayed[(int(a), int(b))]
    for a, b, w in lists["reweighted"]:
        assert (int(a), int(b)) in replayed
        replayed[(int(a), int(b))] = float(w)
    for a, b, w in lists["added"]:
        assert (int(a), int(b)) not in replayed
        replayed[(int(a), int(b))] = float(w)
