"""The default rule's cheap pre-filter flags only edges that the full rule rejects."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsiflow.engine.rules.insertion import (
    g_conductance_cap,
    g_resistance,
    judge_exact,
    surely_redundant,
)
from sparsiflow.engine.rules.search import new_workspace
from sparsiflow.engine.store.graph_store import GraphStore
from sparsiflow.engine.store.initial import components_of
from sparsiflow.engine.store.layout import g_find, g_in_h, g_weight
from sparsiflow.workloads.families import delaunay

PATHS = 3


def _store(n: int, seed: int, h_share: float) -> tuple[GraphStore, np.ndarray, np.ndarray]:
    """G: a delaunay graph with log-normal weights; H: a random share of its edges."""
    g = delaunay(n, weights="lognormal", seed=seed)
    lo, hi = np.minimum(g.u, g.v).astype(np.int64), np.maximum(g.u, g.v).astype(np.int64)
    in_h = np.asarray(np.random.default_rng(seed).random(lo.shape[0]) < h_share)
    return GraphStore.from_edges(g.n, lo, hi, g.w.astype(np.float64), in_h), lo, hi


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([64, 300]))
def test_the_cap_bounds_the_conductance_that_g_paths_add(seed: int, n: int) -> None:
    store, lo, hi = _store(n, seed, 0.5)
    s, ws = store.arrays, new_workspace(store.nodes)
    stats = np.zeros(4, np.int64)
    for a, b in zip(lo, hi, strict=True):
        w = g_weight(s, g_find(s, a, b))
        added = 1.0 / g_resistance(s, ws, a, b, w, PATHS, stats) - w
        cap = g_conductance_cap(s, a, b, np.empty(PATHS - 1), np.empty(PATHS - 1))
        assert added <= cap * (1 + 1e-12)
    assert stats[0] > 0  # G paths were found


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([1.5, 4.0, 20.0]))
def test_flagged_edges_are_ones_the_full_rule_rejects(seed: int, threshold: float) -> None:
    store, lo, hi = _store(300, seed, 0.6)
    s, ws = store.arrays, new_workspace(store.nodes)
    comp = components_of(store)
    outside = np.array([not g_in_h(s, g_find(s, a, b)) for a, b in zip(lo, hi, strict=True)])
    p, q = lo[outside], hi[outside]
    w = np.array([g_weight(s, g_find(s, a, b)) for a, b in zip(p, q, strict=True)])
    stats = np.zeros(4, np.int64)
    flagged = np.zeros(p.shape[0], np.bool_)
    surely_redundant(s, ws, p, q, w, threshold, PATHS, flagged, stats)
    for i in np.flatnonzero(flagged):  # each judged alone by the full rule against this H
        critical = np.zeros(1, np.bool_)
        one = slice(i, i + 1)
        judge_exact(
            s, ws, comp, p[one], q[one], w[one], np.zeros(1, np.bool_), critical, 0,
            threshold, PATHS, stats,
        )  # fmt: skip
        assert not critical[0], (p[i], q[i], w[i])
    if threshold > 2:  # the filter does its job: at K=20 most edges are redundant (H is 60 % of G)
        assert flagged.sum() > (p.shape[0] // 4 if threshold > 10 else 0)
