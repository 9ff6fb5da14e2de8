"""Grounded pencils and their factorization."""

from __future__ import annotations

import numpy as np

from sparsiflow.engine.graph.edges import EdgeList, laplacian
from sparsiflow.engine.quality.pencil import Factor, Grounding, grounded_laplacian
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import spanning_forest


def test_grounding_drops_one_root_per_component() -> None:
    g = EdgeList.normalize([0, 1, 3], [1, 2, 4], n=6)
    ground = Grounding.of(g)
    assert (ground.count, ground.size) == (3, 3)
    assert ground.roots.tolist() == [0, 3, 5]
    x = np.arange(6, dtype=np.float64) + 10.0
    y = ground.reduce(x)
    assert y.tolist() == [1.0, 2.0, 1.0]  # differences to the root of each component
    assert ground.expand(y).tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 0.0]


def test_grounded_laplacian_is_the_submatrix() -> None:
    g = delaunay(200, weights="lognormal", seed=1)
    g = g.subset(np.random.default_rng(0).random(g.m) < 0.5)  # several components
    ground = Grounding.of(g)
    full = laplacian(g).toarray()
    expected = full[np.ix_(ground.keep, ground.keep)]
    assert np.array_equal(grounded_laplacian(g, ground).toarray(), expected)


def test_factor_solves() -> None:
    g = delaunay(500, weights="lognormal", seed=2)
    tree = spanning_forest(g, 2)
    h = g.subset(tree | (np.random.default_rng(2).random(g.m) < 0.1))
    ground = Grounding.of(g)
    a, b = grounded_laplacian(g, ground), grounded_laplacian(h, ground)
    rhs = np.random.default_rng(3).standard_normal(a.shape[0])
    fb = Factor(b)
    assert np.allclose(b @ fb.solve(rhs), rhs, atol=1e-9)
    fa = Factor(a)
    assert np.allclose(a @ fa.solve(rhs), rhs, atol=1e-9)
    both = np.stack([rhs, 2 * rhs], axis=1)  # several right-hand sides at once
    assert np.allclose(b @ fb.solve(both), both, atol=1e-9)
