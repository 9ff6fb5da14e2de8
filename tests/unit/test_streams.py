"""Benchmark update streams."""

from __future__ import annotations

import numpy as np
import pytest

from sparsiflow.engine.graph.edges import EdgeList, components, locate
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.workloads.families import delaunay, grid_circuit
from sparsiflow.workloads.streams import spanning_forest, update_stream


def test_spanning_forest_spans_every_component() -> None:
    g = EdgeList.normalize([0, 1, 0, 3, 4, 3], [1, 2, 2, 4, 5, 5], n=7)
    mask = spanning_forest(g, seed=3)
    assert mask.sum() == 7 - 3
    assert components(g.subset(mask))[0] == components(g)[0] == 3


def test_update_stream_follows_the_paper_protocol() -> None:
    full = delaunay(2000, weights="lognormal", seed=4)
    s = update_stream(full, insert_frac=0.25, delete_frac=0.01, seed=9)
    inserts, deletes = s.ops == Op.INSERT, s.ops == Op.DELETE
    assert (inserts.sum(), deletes.sum()) == (500, 20)
    assert np.all(s.ops[:500] == Op.INSERT)  # insertions first, then deletions
    assert components(s.base)[0] == 1
    assert s.base.m + 500 == full.m
    added = EdgeList.normalize(s.u[inserts], s.v[inserts], s.w[inserts], n=full.n)
    assert added.m == 500 and np.all(locate(s.base, added) < 0)  # new to the base graph
    rows = locate(full, added)
    assert np.all(rows >= 0) and np.array_equal(full.w[rows], added.w)  # the full graph's
    merged = EdgeList.normalize(
        np.concatenate([s.base.u, added.u]), np.concatenate([s.base.v, added.v]), n=full.n
    )
    assert np.array_equal(merged.keys(), full.keys())
    gone = np.ones(full.m, dtype=np.bool_)
    gone[locate(full, EdgeList.normalize(s.u[deletes], s.v[deletes], n=full.n))] = False
    assert gone.sum() == full.m - 20 and components(full.subset(gone))[0] == 1
    assert np.all(np.isnan(s.w[deletes]))
    UpdateBatch.build(s.ops, s.u, s.v, s.w)  # a valid batch
    assert len(s.batch()) == 520


def test_update_stream_is_deterministic_and_insertion_order_is_random() -> None:
    full = grid_circuit(900, seed=1)
    a, b = update_stream(full, 0.2, 0.01, seed=1), update_stream(full, 0.2, 0.01, seed=1)
    for x, y in ((a.ops, b.ops), (a.u, b.u), (a.v, b.v), (a.w, b.w)):
        assert np.array_equal(x, y, equal_nan=True)
    keys = a.u[a.ops == Op.INSERT] * full.n + a.v[a.ops == Op.INSERT]
    assert not np.all(np.diff(keys) > 0)


def test_update_stream_rejects_impossible_requests() -> None:
    tree = EdgeList.normalize(np.arange(9), np.arange(1, 10))
    with pytest.raises(ValueError, match="outside a spanning forest"):
        update_stream(tree, insert_frac=0.5)
    with pytest.raises(ValueError, match=">= 0"):
        update_stream(tree, insert_frac=-0.1)
