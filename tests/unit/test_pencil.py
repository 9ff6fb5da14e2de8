"""Grounded pencils and their factorization."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

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


def _tree_plus(n: int, extra: int, seed: int) -> EdgeList:
    """A random tree on ``n`` nodes with ``extra`` random chords, log-normal weights."""
    rng = np.random.default_rng(seed)
    u = np.concatenate([[int(rng.integers(0, k)) for k in range(1, n)], rng.integers(0, n, extra)])
    v = np.concatenate([np.arange(1, n), rng.integers(0, n, extra)])
    keep = u != v
    return EdgeList.normalize(u[keep], v[keep], rng.lognormal(0, 2, keep.sum()), n=n)


@pytest.mark.parametrize("extra", [0, 1, 5, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_factor_of_a_tree_plus_chords_solves_exactly_with_a_small_core(
    seed: int, extra: int
) -> None:
    h = _tree_plus(300, extra, seed)
    ground = Grounding.of(h)
    b = grounded_laplacian(h, ground)
    factor = Factor(b)
    rhs = np.random.default_rng(seed).standard_normal((b.shape[0], 2))
    expected = np.linalg.solve(b.toarray(), rhs)
    assert np.allclose(factor.solve(rhs), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert np.allclose(
        factor.solve(rhs[:, 0]), expected[:, 0], rtol=1e-9, atol=1e-9 * np.abs(expected).max()
    )
    # each core row keeps >= 3 entries, and every chord adds at most two of them
    assert factor.core_size <= 2 * extra


@pytest.mark.parametrize("extra", [0, 5, 40, 400])
def test_the_split_halves_are_adjoint_and_compose_to_the_solve(extra: int) -> None:
    """``A = C C'``: C^{-1} and C'^{-1} are each other's transposes, ``C'^{-1} C^{-1} = A^{-1}``
    and ``|C^{-1} b|^2 = b' A^{-1} b`` (what Lanczos on ``C^{-1} L_G C'^{-1}`` relies on),
    from a core-free tree to a core of hundreds of rows."""
    h = _tree_plus(300, extra, 7)
    b = grounded_laplacian(h, Grounding.of(h))
    factor = Factor(b)
    rng = np.random.default_rng(extra)
    x, y = rng.standard_normal((2, b.shape[0]))
    assert factor.half_solve(x) @ y == pytest.approx(x @ factor.half_solve_t(y), rel=1e-10)
    solved = np.linalg.solve(b.toarray(), x)
    both = factor.half_solve_t(factor.half_solve(x))
    assert np.allclose(both, solved, rtol=1e-9, atol=1e-9 * np.abs(solved).max())
    half = factor.half_solve(x)
    assert half @ half == pytest.approx(x @ solved, rel=1e-10)
    assert (factor.core_size > 0) == (extra > 0)  # both paths: all eliminated, and a core


def test_factor_of_a_cycle_and_of_isolated_rows() -> None:
    n = 50
    cycle = EdgeList.normalize(np.arange(n), (np.arange(n) + 1) % n, np.linspace(1, 3, n), n=n)
    b = grounded_laplacian(cycle, Grounding.of(cycle))  # rows next to the root are diagonal-heavy
    rhs = np.random.default_rng(0).standard_normal(b.shape[0])
    assert np.allclose(Factor(b).solve(rhs), np.linalg.solve(b.toarray(), rhs))
    assert Factor(b).core_size == 0
    diagonal = sp.diags(np.arange(1.0, 6.0), format="csc")  # no off-diagonal entry at all
    assert np.allclose(Factor(diagonal).solve(np.ones(5)), 1 / np.arange(1.0, 6.0))
