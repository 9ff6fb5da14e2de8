"""The kappa estimator on degenerate and tiny pencils, against the dense generalized eigensolver:
H = G, paths, trees, two nodes, disconnected G, repeated eigenvalues, Lanczos breakdown and long
runs where orthogonality is lost. Each gives the exact value (1 when H = G) or an explicit
"not estimated" outcome with a reason; nothing raises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality import estimator as kappa_module
from sparsiflow.engine.quality.estimator import KappaEstimate, KappaEstimator
from sparsiflow.engine.quality.exact import measure
from sparsiflow.engine.quality.pencil import Grounding, grounded_laplacian
from sparsiflow.workloads.streams import spanning_forest


def _dense(g: EdgeList, h: EdgeList) -> float:
    return measure(g, h, method="dense").lambda_max


def _path(n: int) -> EdgeList:
    return EdgeList.normalize(np.arange(n - 1), np.arange(1, n), n=n)


def _random_tree(n: int, seed: int) -> EdgeList:
    rng = np.random.default_rng(seed)
    parents = [int(rng.integers(0, k)) for k in range(1, n)]
    return EdgeList.normalize(parents, np.arange(1, n), rng.lognormal(0, 2, n - 1), n=n)


def _assert_exact(estimate: KappaEstimate, exact: float, rel: float = 1e-8) -> None:
    assert estimate.estimated, estimate.reason
    assert estimate.lambda_max == pytest.approx(exact, rel=rel)


@pytest.mark.parametrize("n", range(2, 61))
def test_a_path_against_itself_is_one(n: int) -> None:
    """The worker test's shape (a path where every edge is critical, so H = G): every length,
    where stebz failed on 20, 26, 27, 31, 32, 43 nodes (scipy 1.17)."""
    g = _path(n)
    _assert_exact(KappaEstimator().update(g, g), 1.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_h_equal_to_g_is_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 80
    u, v = rng.integers(0, n, 400), rng.integers(0, n, 400)
    g = EdgeList.normalize(u, v, rng.lognormal(0, 3, 400), n=n)
    for est in (KappaEstimator(), KappaEstimator(tol=1e-10, cycle=60, budget=600)):
        first, warm = est.update(g, g), est.update(g, g)
        _assert_exact(first, 1.0, rel=1e-9)
        _assert_exact(warm, 1.0, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_a_tree_is_its_own_sparsifier(seed: int) -> None:
    tree = _random_tree(50, seed)
    _assert_exact(KappaEstimator().update(tree, tree), 1.0)
    half = EdgeList(tree.n, tree.u, tree.v, tree.w / 2.0)
    _assert_exact(KappaEstimator().update(tree, half), 2.0)


def test_two_nodes() -> None:
    g = EdgeList.normalize([0], [1], [4.0])
    _assert_exact(KappaEstimator().update(g, g), 1.0)
    light = EdgeList.normalize([0], [1], [0.5])
    _assert_exact(KappaEstimator().update(g, light), _dense(g, light))
    assert _dense(g, light) == pytest.approx(8.0)
    lone = EdgeList.normalize([], [], n=2)
    r = KappaEstimator().update(g, lone)
    assert r.estimated and math.isinf(r.lambda_max)


def test_disconnected_graph_with_isolated_nodes() -> None:
    rng = np.random.default_rng(3)
    pieces = [_random_tree(30, 1), _path(20), EdgeList.normalize([0, 1, 2], [1, 2, 0], n=3)]
    u, v, w, offset = [], [], [], 0
    for piece in pieces:
        u.append(piece.u + offset)
        v.append(piece.v + offset)
        w.append(piece.w)
        offset += piece.n
    extra_u = rng.integers(0, 30, 40)  # chords inside the first piece only
    extra_v = rng.integers(0, 30, 40)
    g = EdgeList.normalize(
        np.concatenate([*u, extra_u]),
        np.concatenate([*v, extra_v]),
        np.concatenate([*w, rng.lognormal(0, 1, 40)]),
        n=offset + 5,  # five isolated nodes
    )
    h = g.subset(spanning_forest(g, 0))
    _assert_exact(KappaEstimator(tol=1e-10).update(g, h), _dense(g, h), rel=1e-7)
    _assert_exact(KappaEstimator().update(g, g), 1.0)


def test_repeated_top_eigenvalue() -> None:
    """K_n against a star: lambda = n with multiplicity n - 2 (and 1 once)."""
    n = 30
    i, j = np.triu_indices(n, 1)
    g = EdgeList.normalize(i, j, n=n)
    star = g.subset(g.u == 0)
    assert _dense(g, star) == pytest.approx(n)
    _assert_exact(KappaEstimator().update(g, star), float(n))
    scaled = EdgeList(g.n, g.u, g.v, g.w / 3.0)  # every eigenvalue 3: the operator is 3 I
    _assert_exact(KappaEstimator().update(g, scaled), 3.0)


def test_long_runs_keep_orthogonality() -> None:
    """A tolerance no run reaches: every step of a long cycle on a pencil with clustered
    eigenvalues (a grid against a spanning tree), where plain Lanczos repeats Ritz values;
    the estimate stays a lower bound and converges."""
    side = 14
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    g = EdgeList.normalize(u, v, n=side * side)
    h = g.subset(spanning_forest(g, 4))
    exact = _dense(g, h)
    r = KappaEstimator(tol=1e-14, cycle=150, budget=300).update(g, h)
    assert r.estimated
    assert r.lambda_max <= exact * (1 + 1e-10)
    assert r.lambda_max == pytest.approx(exact, rel=1e-9)
    values, vectors = KappaEstimator().ritz(g, h, 150, exact / 2)
    assert values.max() <= exact * (1 + 1e-10)
    assert np.isfinite(vectors).all()


def test_empty_pencils() -> None:
    empty = EdgeList.normalize([], [], n=3)
    _assert_exact(KappaEstimator().update(empty, empty), 1.0)
    nothing = EdgeList.normalize([], [], n=0)
    _assert_exact(KappaEstimator().update(nothing, nothing), 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_a_weight_that_is_not_finite_and_positive_is_not_estimated(bad: float) -> None:
    g = _path(6)
    h = EdgeList(g.n, g.u, g.v, np.where(np.arange(g.m) == 2, bad, 1.0))
    for pair in ((g, h), (h, g)):
        r = KappaEstimator().update(*pair)
        assert not r.estimated and r.reason == "non_finite_weight"
        assert math.isnan(r.lambda_max)
        values, _ = KappaEstimator().ritz(*pair, 4, 0.0)
        assert values.size == 0


def test_a_failed_factorization_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """SuperLU refusing the matrix (as on an exactly singular one) is reported, not raised;
    the estimator recovers on the next call."""
    g = _path(10)
    est = KappaEstimator()

    def singular(_matrix: object) -> None:
        raise RuntimeError("Factor is exactly singular")

    with monkeypatch.context() as patch:
        patch.setattr(kappa_module, "Factor", singular)
        r = est.update(g, g)
    assert not r.estimated
    assert r.reason == "factorization_failed: RuntimeError: Factor is exactly singular"
    _assert_exact(est.update(g, g), 1.0)


@st.composite
def pencils(draw: st.DrawFn) -> tuple[EdgeList, EdgeList]:
    """A random small G (possibly disconnected, weights over 8 decades) and H: a spanning
    forest of G plus some of its other edges, with G's weights."""
    n = draw(st.integers(2, 40))
    m = draw(st.integers(1, 4 * n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    g = EdgeList.normalize(
        rng.integers(0, n, m), rng.integers(0, n, m), 10.0 ** rng.uniform(-4, 4, m), n=n
    )
    keep = spanning_forest(g, seed) | (rng.random(g.m) < draw(st.floats(0, 1)))
    return g, g.subset(keep)


@settings(max_examples=150, deadline=None)
@given(pair=pencils(), tol=st.sampled_from([1e-1, 1e-2, 1e-8]))
def test_random_small_pencils_match_the_dense_reference(
    pair: tuple[EdgeList, EdgeList], tol: float
) -> None:
    """A lower bound within ``tol``, up to the rounding both methods make on the pencil: about
    ``eps * cond(L_H)`` relative (up to 1e-4 where weights span 8 decades)."""
    g, h = pair
    exact = _dense(g, h)
    r = KappaEstimator(tol=tol).update(g, h)
    assert r.estimated, r.reason
    rounding = 1e-12 + 64 * np.finfo(float).eps * _grounded_condition(h)
    assert r.lambda_max <= exact * (1 + rounding)  # a Ritz value never exceeds lambda_max
    assert (exact - r.lambda_max) / exact <= max(tol, rounding)


def _grounded_condition(h: EdgeList) -> float:
    ground = Grounding.of(h)
    if ground.size == 0:
        return 1.0
    return float(np.linalg.cond(grounded_laplacian(h, ground).toarray()))
