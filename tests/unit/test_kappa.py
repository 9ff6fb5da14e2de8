"""Online kappa estimator against the exact dense oracle; caching and warm starts."""

from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pytest
import scipy.linalg

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.edges import EdgeList, laplacian
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.quality.exact import measure
from sparsiflow.workloads.families import delaunay, fem_mesh, grid_circuit
from sparsiflow.workloads.streams import spanning_forest, update_stream


@functools.cache
def _pair(n: int, extra: float, seed: int) -> tuple[EdgeList, EdgeList]:
    g = delaunay(n, weights="lognormal", seed=seed)
    rng = np.random.default_rng(seed)
    return g, g.subset(spanning_forest(g, seed) | (rng.random(g.m) < extra))


@functools.cache
def _exact(n: int, extra: float, seed: int) -> float:
    return measure(*_pair(n, extra, seed), method="dense").lambda_max


@pytest.mark.parametrize("tol", [1e-1, 1e-2, 1e-4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_is_a_close_lower_bound(tol: float, seed: int) -> None:
    g, h = _pair(400, 0.05, seed)
    exact = _exact(400, 0.05, seed)
    r = KappaEstimator(tol=tol, seed=seed).update(g, h)
    assert r.residual <= tol
    assert r.lambda_max <= exact * (1 + 1e-10)  # a Ritz value never exceeds lambda_max
    assert (exact - r.lambda_max) / exact <= tol  # measured: about tol^2 or better


def test_vector_is_a_generalized_eigenvector() -> None:
    g, h = _pair(500, 0.03, 5)
    r = KappaEstimator(tol=1e-6).update(g, h)
    x = r.vector
    lg, lh = laplacian(g), laplacian(h)
    assert x @ (lh @ x) == pytest.approx(1.0, rel=1e-8)
    residual = lg @ x - r.lambda_max * (lh @ x)
    assert np.linalg.norm(residual) <= 1e-4 * np.linalg.norm(lg @ x)


def test_an_estimate_above_its_sketch_bound_goes_on_and_sketches_the_top_pairs() -> None:
    """What a control round reads: the Ritz pairs above the bound of the estimate's own run,
    taken on to the sketch's steps; they approximate the pencil's top eigenpairs."""
    g, h = _pair(400, 0.05, 1)
    lg, lh = laplacian(g).toarray(), laplacian(h).toarray()
    exact = scipy.linalg.eigh(lg[1:, 1:], lh[1:, 1:], eigvals_only=True)[::-1]
    bound = float(exact[3] + exact[4]) / 2  # four eigenvalues above it
    plain = KappaEstimator(seed=1).update(g, h)
    r = KappaEstimator(seed=1).update(g, h, sketch_above=bound, sketch_steps=60)
    assert plain.sketch is None and plain.steps < 60 and r.steps == 60
    assert r.sketch is not None
    values, vectors = r.sketch
    assert values[0] == r.lambda_max and np.allclose(vectors[0], r.vector, rtol=0, atol=1e-12)
    assert np.all(np.diff(values) < 0) and np.all(values > bound)
    assert values.size == 4
    assert values == pytest.approx(exact[:4], rel=1e-6)
    for value, x in zip(values, vectors, strict=True):
        assert x @ (lh @ x) == pytest.approx(1.0, rel=1e-8)
        assert np.linalg.norm(lg @ x - value * (lh @ x)) <= 1e-3 * np.linalg.norm(lg @ x)
    under = KappaEstimator(seed=1).update(g, h, sketch_above=2 * exact[0], sketch_steps=60)
    assert under.sketch is None and under.steps == plain.steps


def test_an_estimate_stops_once_its_top_ritz_value_is_over_the_ceiling() -> None:
    """A check refusing a thinner H needs only to know that lambda_max is over a ceiling: a
    Ritz value is a lower bound of it, so the run stops at the first one above."""
    g, h = _pair(400, 0.05, 1)
    exact = _exact(400, 0.05, 1)
    plain = KappaEstimator(seed=1).update(g, h)
    cut = KappaEstimator(seed=1).update(g, h, ceiling=0.5 * exact)
    assert 0.5 * exact < cut.lambda_max <= exact * (1 + 1e-9)
    assert cut.steps < plain.steps
    over = KappaEstimator(seed=1).update(g, h, ceiling=2 * exact)
    assert (over.lambda_max, over.steps) == (plain.lambda_max, plain.steps)


def test_top_ranked_edge_lowers_lambda_max() -> None:
    # the control loop's use: the edge of G with the largest w (x_p - x_q)^2 is critical
    g = fem_mesh(500, seed=3)
    h = g.subset(spanning_forest(g, 3))
    r = KappaEstimator(tol=1e-4).update(g, h)
    score = g.w * (r.vector[g.u] - r.vector[g.v]) ** 2
    rows = np.argsort(score)[::-1]
    with_top = np.isin(np.arange(g.m), rows[:1]) | spanning_forest(g, 3)
    with_random = np.isin(np.arange(g.m), rows[g.m // 2 : g.m // 2 + 1]) | spanning_forest(g, 3)
    before = measure(g, h, method="dense").lambda_max
    after_top = measure(g, g.subset(with_top), method="dense").lambda_max
    after_mid = measure(g, g.subset(with_random), method="dense").lambda_max
    assert after_top < 0.9 * before
    assert after_top < after_mid


def test_factorization_is_cached_until_h_changes() -> None:
    g, h = _pair(600, 0.05, 7)
    est = KappaEstimator(tol=1e-3)
    first = est.update(g, h)
    again = est.update(g, h)
    assert first.refactorized and not again.refactorized
    # the warm start (previous eigenvector) converges further in no more steps
    assert again.steps <= first.steps
    assert again.residual < first.residual
    assert again.lambda_max == pytest.approx(first.lambda_max, rel=1e-3)
    est.refresh()
    assert est.update(g, h).refactorized
    changed = EdgeList(h.n, h.u, h.v, h.w * 2.0)
    r = est.update(g, changed)
    assert r.refactorized
    assert r.lambda_max == pytest.approx(first.lambda_max / 2.0, rel=1e-3)


def test_a_copy_in_another_process_goes_on_as_the_original() -> None:
    """Checks run in their own process: a pickled estimator carries its random state and
    warm start, not its factorization, and its next estimate is the original's."""
    g, h = _pair(600, 0.05, 7)
    est = KappaEstimator(tol=1e-3, seed=3)
    est.update(g, h)
    copy = pickle.loads(pickle.dumps(est))
    thinner = g.subset(spanning_forest(g, 7))
    a, b = est.update(g, thinner), copy.update(g, thinner)
    assert (a.lambda_max, a.residual, a.steps) == (b.lambda_max, b.residual, b.steps)
    np.testing.assert_array_equal(a.vector, b.vector)
    assert not copy.update(g, thinner).refactorized  # it caches again from here
    assert pickle.loads(pickle.dumps(copy)).update(g, thinner).refactorized


def test_warm_start_finds_a_new_top_direction() -> None:
    """A batch can create a bad direction larger than the old one, which stays an eigenvector:
    a warm start must not stop at the old value on its small residual (grid-circuit weights,
    where this made in-stream estimates settle 11 % low)."""
    stream = update_stream(grid_circuit(4096, seed=1), 0.25, 0.0, seed=1)
    base, inserts = stream.base, stream.batch()
    engine = Engine.from_graph(
        base.u, base.v, base.w, nodes=np.arange(base.n), config=EngineConfig(threshold=8)
    )
    est = KappaEstimator(tol=1e-2, seed=0)
    size = len(inserts) // 10
    for i in range(10):
        engine.apply(inserts.slice(i * size, (i + 1) * size))
        g = EdgeList(base.n, *engine.graph_edges())
        h = EdgeList(base.n, *engine.sparsifier_edges())
        estimate = est.update(g, h).lambda_max
        exact = measure(g, h).lambda_max
        assert exact * (1 - 2e-2) <= estimate <= exact * (1 + 1e-9), i


def test_degenerate_pairs() -> None:
    g = EdgeList.normalize([0, 1, 2], [1, 2, 0], n=4)
    broken = EdgeList.normalize([0], [1], n=4)
    r = KappaEstimator().update(g, broken)
    assert math.isinf(r.lambda_max)
    empty = EdgeList.normalize([], [], n=3)
    assert KappaEstimator().update(empty, empty).lambda_max == 1.0
    assert KappaEstimator(tol=1e-8).update(g, g).lambda_max == pytest.approx(1.0)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="tol"):
        KappaEstimator(tol=0.0)
    with pytest.raises(ValueError, match="cycle"):
        KappaEstimator(cycle=50, budget=10)
