"""Online kappa estimate: a few Lanczos steps on ``L_H^{-1} L_G`` with a cached factorization.

Cheap enough to run every N batches on a copy of (G, H). The factorization of grounded L_H is
kept and reused until H changes (or :meth:`KappaEstimator.refresh`); each call warm-starts from
the previous top eigenvector. A small residual is trusted only after 16 steps: a batch can
create a worse direction while the old top vector stays an eigenvector, and a warm start stopped
at its tiny residual settled 11-30 % low on grid-circuit streams.

The estimate is the largest Ritz value: a lower bound of the exact lambda_max (= kappa when H is
a subgraph of G with G's weights), within ``residual * lambda_max`` of an eigenvalue and usually
far closer (the error is about residual^2 / gap). The returned eigenvector x ranks the edges of G
by ``w_e (x_p - x_q)^2``: the largest are the spectrally critical ones (GRASS's perturbation
ranking), which a control loop can add to H.

Measured on the 2-core VM (Delaunay G, H = random spanning tree + 10 % |V| edges, kappa ~2000),
relative error of lambda_max / seconds per call:

    =========  ===================  ===================  ================================
    nodes      tol 1e-1 (cold)      tol 1e-2 (cold)      tol 1e-3, H changed / unchanged
    =========  ===================  ===================  ================================
    2^16       8e-3 / 0.4 s         1e-4 / 0.5 s         9e-8 / 0.4 s;  4e-8 / 0.2 s
    2^18       1.4e-2 / 2.3 s       2.6e-4 / 3.2 s       1e-6 / 2.2 s;  4e-7 / 0.8 s
    =========  ===================  ===================  ================================

("H changed": 0.5 % |V| edges added, L_H ordered and factorized afresh. Reusing the previous
fill-reducing ordering saves ~40 % of that, but an H whose spanning tree changed can fill
several times more on it: a call took minutes on a grid-circuit graph.)
Those figures predate two savings (same graphs' in-stream calls at 2^18, H = the bootstrap's
plus 0.5 % |V| edges per call, one core): the factor first eliminates H's tree
(:mod:`sparsiflow.engine.quality.elimination`; SuperLU then orders and factorizes a core of
about a seventh of the rows: 0.74 -> 0.21 s on unit Delaunay, 0.60 -> 0.20 s on grid-circuit),
and a Lanczos step multiplies by L_H once instead of three to five times. A call with H
changed went from 1.65 to 0.87 s (unit Delaunay), 1.52 to 0.86 s (log-normal), 1.23 to
0.67 s (grid-circuit), the estimates identical to 1e-12. Then the set-up stopped sorting
(components by union-find, grounded Laplacians built straight as CSR): a cold call, G's side
built as in every check, 1.31 -> 0.93 s (unit Delaunay), 1.24 -> 0.86 s (log-normal).
Then the steps moved to the split form (:func:`_lanczos`: no product with L_H, no b-images):
a 40-step run at 2^17 (unit Delaunay, in a stream's last check) 455 -> 323 ms.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sparsiflow.engine.exceptions import failure_reason
from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.engine.quality.pencil import Factor, Grounding, grounded_laplacian

__all__ = ["KappaEstimate", "KappaEstimator"]

_MIN_STEPS = 16  # Lanczos steps before a small residual is trusted (a warm start can fake one)
_BREAKDOWN = 1e-10  # a new Lanczos vector below this share of |lambda| spans nothing new
_REORTHOGONALIZE = 0.7  # a pass that keeps less of the vector's norm than this is repeated
_NUMERICAL_ERRORS = (np.linalg.LinAlgError, ArithmeticError, RuntimeError, ValueError, MemoryError)


@dataclass(frozen=True)
class KappaEstimate:
    """One estimate, or the reason there is none.

    lambda_max: the largest Ritz value (a lower bound of the exact value; ``inf`` when H has
        more components than G; NaN when not estimated). vector: its Ritz vector on all n nodes
        (zero at one root per component; only differences across edges matter), normalized so
        ``x' L_H x = 1`` (zeros when not estimated).
    residual: ``||L_H^{-1} L_G x - lambda x||_{L_H} / lambda``, the relative error bound.
    steps: Lanczos steps (solves with the factor) taken; refactorized: whether this call
    factorized L_H; seconds: wall time of the call.
    reason: None for an estimate; else why there is none (e.g. ``non_finite_weight``).
    sketch: when the call was asked for one and lambda_max is above its bound, the Ritz pairs
        above that bound of the run that gave lambda_max (values descending, vectors as rows
        like ``vector``); else None.
    """

    lambda_max: float
    vector: NDArray[np.float64]
    residual: float
    steps: int
    refactorized: bool
    seconds: float
    reason: str | None = None
    sketch: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    @property
    def estimated(self) -> bool:
        """Whether ``lambda_max`` is an estimate (finite or infinite), not a failure."""
        return self.reason is None


@dataclass(frozen=True)
class _Cache:
    """What depends on H only: its grounding, grounded Laplacian and factorization."""

    fingerprint: bytes
    ground: Grounding
    lh: sp.csc_matrix
    factor: Factor | None  # None when the reduced space is empty


@dataclass(frozen=True)
class _GraphSide:
    """What depends on G (and the roots) only: its component count and grounded Laplacian."""

    graph: EdgeList
    roots: NDArray[np.int64]
    components: int
    laplacian: sp.csc_matrix


class KappaEstimator:
    """Estimates lambda_max of (L_G, L_H) for a changing pair, reusing work between calls.

    tol: stop when the relative residual is below this; cycle: Lanczos steps per restart
    (memory: ``cycle`` vectors of length n); budget: most steps per call; seed: of the
    random part of the start vectors.
    """

    def __init__(
        self, tol: float = 1e-2, cycle: int = 24, budget: int = 240, seed: int = 0
    ) -> None:
        if not (tol > 0 and 2 <= cycle <= budget):
            raise ValueError("need tol > 0 and 2 <= cycle <= budget")
        self.tol, self.cycle, self.budget = tol, cycle, budget
        self._rng = np.random.default_rng(seed)
        self._cache: _Cache | None = None
        self._side: _GraphSide | None = None
        self._x: NDArray[np.float64] | None = None

    def refresh(self) -> None:
        """Forget the cached factorization (the next call factorizes L_H afresh)."""
        self._cache = None

    def release_graph(self) -> None:
        """Drop what is kept of G (its Laplacian) until the next call."""
        self._side = None

    def __getstate__(self) -> dict[str, object]:
        """What a copy in another process needs: the settings, the random state and the last
        eigenvector; not the factorization (SuperLU's cannot be copied) nor G's side."""
        return self.__dict__ | {"_cache": None, "_side": None}

    def update(
        self,
        graph: EdgeList,
        sparsifier: EdgeList,
        sketch_above: float = math.inf,
        sketch_steps: int = 0,
        ceiling: float = math.inf,
    ) -> KappaEstimate:
        """Estimate for G = ``graph`` and H = ``sparsifier`` (H a subgraph of G).

        With ``sketch_above``, a run whose top Ritz value exceeds it does not stop at the
        tolerance but goes on to ``sketch_steps`` steps, and the estimate carries that run's
        Ritz pairs above it (``sketch``): what a control round needs, for a few more steps of
        the same run instead of a run of its own (at 2^17, 16-24 steps fewer per round; the
        pairs above 0.9x the target matched those of a fresh random start to 0.3 %).

        With ``ceiling``, the run stops as soon as its top Ritz value exceeds it: a Ritz value
        is a lower bound of lambda_max, so the pair is then known to be above the ceiling
        (what a check needs to refuse a thinner H) and the estimate says only that.

        Never raises on the pencil's numerics: a pair it cannot estimate (a weight that is not
        finite and positive, a factorization or eigensolver failure) gives an estimate with
        ``reason`` set and ``lambda_max`` NaN."""
        start = time.perf_counter()
        n = max(graph.n, sparsifier.n)
        if not (_positive_finite(graph.w) and _positive_finite(sparsifier.w)):
            return _unavailable("non_finite_weight", n, False, start)
        g, h = graph.with_nodes(n), sparsifier.with_nodes(n)
        refactorized = False
        try:
            cache, refactorized = self._prepare(h)
            if cache.ground.count > self._graph_side(g, cache.ground).components:
                return KappaEstimate(math.inf, np.zeros(n), 0.0, 0, refactorized, _since(start))
            if cache.factor is None:
                return KappaEstimate(1.0, np.zeros(n), 0.0, 0, refactorized, _since(start))
            run, residual, steps = self._iterate(g, cache, sketch_above, sketch_steps, ceiling)
            value, y = run.value, run.vector
            assert cache.factor is not None
        except _NUMERICAL_ERRORS as exc:
            self.refresh()
            self._x = None
            kind = (
                "factorization_failed" if isinstance(exc, RuntimeError) else "numerical_breakdown"
            )
            return _unavailable(failure_reason(kind, exc), n, refactorized, start)
        if not (math.isfinite(value) and math.isfinite(residual) and np.isfinite(y).all()):
            self._x = None
            return _unavailable("numerical_breakdown: non-finite Ritz pair", n, refactorized, start)
        self._x = cache.ground.expand(cache.factor.half_solve_t(y))
        sketch = (
            _pairs(run, cache.ground, cache.factor, sketch_above) if value > sketch_above else None
        )
        return KappaEstimate(
            value, self._x, residual, steps, refactorized, _since(start), sketch=sketch
        )

    def ritz(
        self, graph: EdgeList, sparsifier: EdgeList, steps: int, above: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Ritz pairs of one ``steps``-step Lanczos run from a random start whose values exceed
        ``above``: a sketch of every bad direction at once, not only the worst. Returns the
        values and the vectors as rows of a (k, n) array, each with ``x' L_H x = 1`` (zero at
        the grounded roots); none where the pencil cannot be estimated (see :meth:`update`)."""
        n = max(graph.n, sparsifier.n)
        none = np.zeros(0), np.zeros((0, n))
        if not (_positive_finite(graph.w) and _positive_finite(sparsifier.w)):
            return none
        g, h = graph.with_nodes(n), sparsifier.with_nodes(n)
        try:
            cache, _ = self._prepare(h)
            if cache.factor is None:
                return none
            lg = self._graph_side(g, cache.ground).laplacian
            start = self._rng.standard_normal(cache.ground.size)
            run = _lanczos(lg, cache.factor, start, min(steps, cache.ground.size), 0.0)
            values, vectors = _pairs(run, cache.ground, cache.factor, above)
        except _NUMERICAL_ERRORS:
            self.refresh()
            return none
        if not np.isfinite(vectors).all():
            return none
        return values, vectors

    def _iterate(
        self, g: EdgeList, cache: _Cache, above: float, longest: int, ceiling: float
    ) -> tuple[_Krylov, float, int]:
        """Restarted Lanczos runs (of at least ``longest`` steps, each going on past the
        tolerance while its top Ritz value is above ``above``) until the residual is below
        ``tol``, the budget is spent, a run spans an invariant subspace (then its Ritz
        values are exact) or a top Ritz value exceeds ``ceiling``. Returns the last run, its
        residual and the steps taken."""
        assert cache.factor is not None
        ground = cache.ground
        lg = self._graph_side(g, ground).laplacian
        y, residual, steps = self._start(cache, ground.keep.shape[0]), math.inf, 0
        while steps < self.budget and residual > self.tol:
            length = min(max(self.cycle, longest), self.budget - steps, ground.size)
            run = _lanczos(lg, cache.factor, y, length, self.tol, above, ceiling)
            y, residual = run.vector, run.residual
            steps += run.steps
            if run.invariant or run.value > ceiling:
                break
        return run, residual, steps

    def _graph_side(self, g: EdgeList, ground: Grounding) -> _GraphSide:
        """G's component count and grounded Laplacian, kept while the same G object comes
        back with the same roots (a control run's rounds change only H)."""
        side = self._side
        if side is None or side.graph is not g or not np.array_equal(side.roots, ground.roots):
            laplacian = grounded_laplacian(g, ground)
            side = self._side = _GraphSide(g, ground.roots, components(g)[0], laplacian)
        return side

    def _prepare(self, h: EdgeList) -> tuple[_Cache, bool]:
        """The cache for H, factorizing grounded L_H unless H is unchanged since last time."""
        digest = hashlib.blake2b(digest_size=16)
        for part in (np.int64(h.n), h.u, h.v, h.w):
            digest.update(np.ascontiguousarray(part).tobytes())
        fingerprint = digest.digest()
        if self._cache is not None and self._cache.fingerprint == fingerprint:
            return self._cache, False
        ground = Grounding.of(h)
        lh = grounded_laplacian(h, ground)
        factor = Factor(lh) if ground.size else None
        self._cache = _Cache(fingerprint, ground, lh, factor)
        return self._cache, True

    def _start(self, cache: _Cache, n: int) -> NDArray[np.float64]:
        """Previous eigenvector (re-grounded; zero on nodes added since) in the split space
        (``C' x = C^{-1} L_H x``) plus a little noise, or noise on a cold start."""
        assert cache.factor is not None
        ground = cache.ground
        noise = self._rng.standard_normal(ground.size)
        if self._x is None or self._x.shape[0] > n:
            return noise
        warm = cache.factor.half_solve(
            cache.lh.T @ ground.reduce(np.pad(self._x, (0, n - self._x.shape[0])))
        )
        scale = np.linalg.norm(warm)
        return noise if scale == 0 else warm / scale + 1e-2 * noise / np.linalg.norm(noise)


class _Krylov(NamedTuple):
    """A Lanczos run in the split space (:func:`_lanczos`): tridiagonal (alpha, beta),
    orthonormal basis rows, top Ritz pair; invariant: the basis spans an invariant subspace
    (breakdown, or the whole space)."""

    alpha: NDArray[np.float64]
    beta: NDArray[np.float64]
    basis: NDArray[np.float64]
    value: float
    vector: NDArray[np.float64]
    residual: float
    invariant: bool

    @property
    def steps(self) -> int:
        return int(self.alpha.shape[0])


def _lanczos(
    a: sp.csc_matrix,
    factor: Factor,
    start: NDArray[np.float64],
    steps: int,
    tol: float,
    above: float = math.inf,
    ceiling: float = math.inf,
) -> _Krylov:
    """Up to ``steps`` Lanczos steps on ``S = C^{-1} a C'^{-1}``, where ``b = C C'`` is the
    factor's split (:meth:`Factor.half_solve`): S is symmetric with the eigenvalues of
    ``a x = lambda b x``, and ``x = C'^{-1} y`` maps its eigenvectors y to the pencil's, with
    ``x' b x = y' y``. Stops once the top Ritz pair's relative residual is below ``tol``
    (``tol = 0`` runs every step) while its value is at most ``above``, once that value
    exceeds ``ceiling``, or once the Krylov space stops growing.

    Every new vector is orthogonalized against the whole basis, a second time when the first
    pass cancelled most of it ("twice is enough"), so orthogonality holds to rounding even
    where the operator is the identity (H = G) and each new vector is rounding noise. A step
    costs one product with ``a`` and the two halves of one solve; the b-inner-product form it
    replaced also multiplied by ``b`` once or twice a step and kept b-images of its vectors
    (2^17-node unit Delaunay, 40 steps: 455 -> 323 ms)."""
    a = a.T  # symmetric: the same arrays read as CSR, whose products are ~1.7x faster
    size = start.shape[0]
    basis = np.empty((steps, size))
    alpha = np.empty(steps)
    beta = np.zeros(steps)
    np.divide(start, np.linalg.norm(start), out=basis[0])
    for j in range(steps):
        q = basis[j]
        r = factor.half_solve(a @ factor.half_solve_t(q))
        alpha[j] = q @ r
        r -= alpha[j] * q
        if j:
            r -= beta[j - 1] * basis[j - 1]
        before = np.linalg.norm(r)
        for _ in range(2):
            r -= basis[: j + 1].T @ (basis[: j + 1] @ r)  # orthogonal to the basis
            beta[j] = np.linalg.norm(r)
            if beta[j] > _REORTHOGONALIZE * before:
                break
            before = beta[j]
        values, vectors = _tridiagonal_eigh(alpha[: j + 1], beta[:j])
        top, y = float(values[-1]), vectors[:, -1]
        scale = max(abs(float(values[0])), abs(top))
        invariant = beta[j] <= _BREAKDOWN * scale or j + 1 == size
        residual = 0.0 if invariant else beta[j] * abs(y[-1]) / top
        converged = residual <= tol and j + 1 >= min(_MIN_STEPS, steps) and top <= above
        if converged or j + 1 == steps or invariant or top > ceiling:
            k = j + 1
            return _Krylov(
                alpha[:k], beta[:k], basis[:k], top, basis[:k].T @ y, float(residual), invariant
            )
        np.divide(r, beta[j], out=basis[j + 1])
    raise AssertionError("unreachable: the loop returns at its last step")


def _pairs(
    run: _Krylov, ground: Grounding, factor: Factor, above: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The Ritz pairs of ``run`` whose values exceed ``above``, descending: the values and the
    vectors as rows on all nodes (zero at the roots), each with ``x' L_H x = 1``."""
    values, vectors = _tridiagonal_eigh(run.alpha, run.beta[: run.steps - 1])
    pick = np.flatnonzero(values > above)[::-1]
    out = np.zeros((pick.shape[0], ground.keep.shape[0]))
    for row, y in zip(out, (run.basis.T @ vectors[:, pick]).T, strict=True):
        row[ground.keep] = factor.half_solve_t(y)
    return values[pick], out


def _tridiagonal_eigh(
    diagonal: NDArray[np.float64], off: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """All eigenpairs (ascending) of a small symmetric tridiagonal matrix.

    Dense LAPACK ``syevd`` on the (at most a few hundred square) matrix: microseconds, and it
    converges on the near-diagonal matrices a breakdown produces, where the bisection of
    ``scipy.linalg.eigh_tridiagonal(select=...)`` (``stebz``) failed (scipy 1.17, H = G)."""
    t = np.diag(diagonal) + np.diag(off, 1) + np.diag(off, -1)
    values, vectors = np.linalg.eigh(t)
    return values, vectors


def _positive_finite(weights: NDArray[np.float64]) -> bool:
    return bool(np.all(np.isfinite(weights) & (weights > 0)))


def _unavailable(reason: str, n: int, refactorized: bool, start: float) -> KappaEstimate:
    return KappaEstimate(math.nan, np.zeros(n), math.inf, 0, refactorized, _since(start), reason)


def _since(start: float) -> float:
    return time.perf_counter() - start
