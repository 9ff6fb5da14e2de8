"""The kappa control loop: keep lambda_max(L_G, L_H) under a target at the least density.

Local rules judge each new edge by its own distortion; kappa is set by the worst direction of
the whole graph, often fixed by edges no rule looks at again. This loop looks at all of G. A
round takes the Ritz vectors x_j of one Lanczos run on ``L_H^{-1} L_G`` whose Ritz values exceed
the target (scaled so ``x' L_H x = 1``): together they point at every bad region at once, not
only the worst. Adding edges whose scores ``s_j(e) = w_e (x_j[p] - x_j[q])^2`` sum to S_j
lowers x_j's Rayleigh quotient from lambda_j to ``lambda_j / (1 + S_j)`` (GRASS's perturbation
ranking), so direction j needs ``S_j >= lambda_j / target - 1``. Edges of G outside H are taken
greedily by their share of the directions' remaining needs, skipping an edge whose ends both
touch the ends of an edge already taken this round (similarity filter), until every direction
is satisfied; then lambda_max is estimated again (``sparsiflow.engine.quality.estimator``) and
another round runs if it is still above target. Random starts are seeded: a run depends only on (G,
H, and the estimator's state: its seed and the previous top eigenvector it warm-starts from).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.bootstrap import csr, static_sparsifier, tree_stretch
from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.engine.quality.estimator import KappaEstimate, KappaEstimator

__all__ = [
    "MARGIN",
    "PRUNE_BELOW",
    "REBASE_AGAIN",
    "REBASE_SHARE",
    "ControlOutcome",
    "build_to_target",
    "control_rounds",
    "off_tree_edges",
    "pick_prunes",
    "pick_recoveries",
]

LEAST_EFFECT = 0.25
"""A recovery round whose picks gave a share f of the drop they promised makes the next
round's needs 1/f times as large (at most 4x: ``1 / LEAST_EFFECT``). The promise is a
first-order one (each picked edge judged on the sketched vectors as they were); where the
top directions cluster, fixing one reveals its neighbours: unit Delaunay 2^17 streamed in,
the last check went 107.3 -> 104.5 -> 102.0 -> 100.0 -> 98.4 over four rounds (0.55 s each)
aiming at 94, and 107.3 -> 104.5 -> 98.4 over two with this, recovering 99 edges instead of
101."""

MARGIN = 0.01
"""Callers aim this far under a target: the estimates are Lanczos lower bounds."""

PRUNE_BELOW = 0.7
"""A run that may prune does so only when its estimate is under this share of the target."""

PRUNE_TO = 0.85
"""Pruning aims at, and must stay under, this share of the target: the stream keeps headroom
before the next check (a check that must recover costs about six that only measure)."""

REBASE_SHARE = 0.5
"""A run that may thin H and recovered nothing first tries the static sparsifier of G at this
share of H's off-tree density (a *rebase*), kept only if its estimate is under ``PRUNE_TO`` of
the target: where H has gathered edges no direction needs while its worst directions stay near
the target (grid-circuit, 2^18: exact kappa 45.0 at 0.127 off-tree density, while a static
sparsifier at that density has 8.9), pruning never starts, but a static build at half the
density holds the target. First, because a rebase costs a static build and one estimate where
pruning costs a Ritz sketch and one or two estimates, and thins H by half where pruning takes
at most 5 % |V| edges: grid-circuit 2^18 over 10 insertion batches with the target 60.7
(``bench.target_replay``'s protocol), pruning first ended at 37.3 and 0.068 off-tree density
after three checks of 2-3 s each, rebasing first at 23.4 and 0.034 after checks of 0.7-1 s;
Delaunay (unit, log-normal) and FE mesh streams kept the same H or one as dense."""

REBASE_AGAIN = 1.25
"""After a refused rebase, a graph's checks try again once H has this many times the off-tree
density (edges per node) it had then: a refused try costs a static build and an estimate
(log-normal Delaunay 2^18, T = 68.3, the replay protocol: insertions at 31k/s without
rebases, 20k/s trying one at every check, 21k/s so; all were refused). Waiting for growth
from the first check instead missed grid-circuit (the local rule had grown H by then)."""

_TRY_THINNER = 0.8  # a bulk build tries a sparser static start while its estimate is under this


@dataclass(frozen=True)
class ControlOutcome:
    """What one control run did: estimates before/after, edges recovered and pruned (rows of
    G), why there is no estimate (``reason``, the estimator's) when there is none, and whether
    the pruning it tried was refused (the thinner H's estimate was above ``PRUNE_TO`` of the
    target), and whether it tried a rebase and whether that was refused."""

    lambda_before: float
    lambda_after: float
    rounds: int
    recovered: NDArray[np.int64]
    seconds: float
    reason: str | None = None
    pruned: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    prune_refused: bool = False
    rebase_refused: bool = False
    rebase_tried: bool = False


def pick_recoveries(
    graph: EdgeList,
    outside: NDArray[np.bool_],
    probes: NDArray[np.float64],
    needs: NDArray[np.float64],
    limit: int,
) -> NDArray[np.int64]:
    """Rows of ``graph`` (among ``outside``) to recover so that each direction (row of
    ``probes``) gets score ``needs[j]``; at most ``limit`` rows, similar edges skipped."""
    active = needs > 0
    if not active.any():
        return np.zeros(0, np.int64)
    rows = np.flatnonzero(outside)
    remaining = needs[active].copy()
    sketch = np.ascontiguousarray(probes[active].T)  # (nodes, directions)
    sums = _share_sums(graph.u, graph.v, graph.w, rows, sketch, remaining)
    ranked = rows[np.argsort(-sums, kind="stable")[: 50 * limit + 256]]
    diff = sketch[graph.u[ranked]].T - sketch[graph.v[ranked]].T
    scores = graph.w[ranked] * diff * diff  # (directions, ranked rows)
    indptr, nbr, _ = csr(graph.n, graph.u, graph.v)
    near = np.full(graph.n, -1, np.int64)
    taken: list[int] = []
    for k, row in enumerate(ranked):
        if (remaining <= 0).all() or len(taken) >= limit:
            break
        if not (scores[:, k] > 1e-3 * np.maximum(remaining, 0)).any():
            continue
        a, b = graph.u[row], graph.v[row]
        if near[a] >= 0 and near[a] == near[b]:
            continue
        taken.append(int(row))
        remaining -= scores[:, k]
        for end in (a, b):
            near[end] = row
            near[nbr[indptr[end] : indptr[end + 1]]] = row
    return np.array(sorted(taken), np.int64)


@nb.njit(cache=True, nogil=True)
def _share_sums(
    u: NDArray[np.int64],
    v: NDArray[np.int64],
    w: NDArray[np.float64],
    rows: NDArray[np.int64],
    sketch: NDArray[np.float64],
    needs: NDArray[np.float64],
) -> NDArray[np.float64]:
    """For each row e, the sum over directions j of ``min(s_j(e), needs[j]) / needs[j]``,
    ``s_j(e) = w_e (x_j[u] - x_j[v])^2`` (``sketch[:, j]`` is x_j): its share of the needs."""
    out = np.empty(rows.shape[0])
    for i in range(rows.shape[0]):
        e = rows[i]
        a, b = u[e], v[e]
        total = 0.0
        for j in range(needs.shape[0]):
            d = sketch[a, j] - sketch[b, j]
            total += min(w[e] * d * d, needs[j]) / needs[j]
        out[i] = total
    return out


def pick_prunes(
    graph: EdgeList,
    in_h: NDArray[np.bool_],
    sketch: Callable[[], tuple[NDArray[np.float64], NDArray[np.float64]]],
    target: float,
    limit: int,
) -> NDArray[np.int64]:
    """Rows of ``graph`` (among ``in_h``) that H can lose with every sketched direction j
    (``sketch()`` gives the Ritz values and, as rows, their vectors x_j, ``x' L_H x = 1``;
    it is called only if some edge qualifies: a sketch costs a Lanczos run) still under
    ``target``: removing edges of total score S_j raises its quotient to
    ``values[j] / (1 - S_j)``. Only
    edges off a maximum-weight spanning forest of H whose stretch over it is at most
    ``target / 4`` qualify, the edges the local rule would not add at its default threshold
    (H keeps its components, and an edge's own direction stays far under the target where
    the sketch does not see it); the least needed go first (the rows come in that order), at
    most ``limit``, none next to one already taken."""
    none = np.zeros(0, np.int64)
    rows = np.flatnonzero(in_h)
    if rows.shape[0] == 0:
        return none
    h = graph.subset(in_h)
    tree, stretch = tree_stretch(h.n, h.u, h.v, h.w)
    candidates = np.flatnonzero(~tree & (stretch <= target / 4))
    if candidates.shape[0] == 0:
        return none
    values, probes = sketch()
    room = 1.0 - values / target  # share of each direction's x' L_H x that may go
    if (room <= 0).any():
        return none
    diff = probes[:, h.u[candidates]] - probes[:, h.v[candidates]]
    scores = h.w[candidates] * diff * diff  # (directions, candidates)
    use = (scores / room[:, None]).max(axis=0, initial=0.0)
    ranked = np.lexsort((stretch[candidates], use))
    indptr, nbr, _ = csr(h.n, h.u, h.v)
    near = np.zeros(h.n, np.bool_)
    left = room.copy()
    taken: list[int] = []
    for k in ranked:
        if len(taken) >= limit:
            break
        e = candidates[k]
        a, b = h.u[e], h.v[e]
        if near[a] or near[b] or (scores[:, k] >= left).any():
            continue
        taken.append(int(rows[e]))
        left -= scores[:, k]
        for end in (a, b):
            near[end] = True
            near[nbr[indptr[end] : indptr[end + 1]]] = True
    return np.array(taken, np.int64)


def control_rounds(
    graph: EdgeList,
    in_h: NDArray[np.bool_],
    target: float,
    estimator: KappaEstimator,
    rounds: int = 8,
    per_round: float = 0.05,
    krylov: int = 40,
    aim: float = 0.05,
    prune: bool = False,
    rebase: float = 0.0,
) -> tuple[ControlOutcome, NDArray[np.bool_]]:
    """Recover edges of ``graph`` into H (its ``in_h`` rows) until the estimate of lambda_max
    is at most ``target`` or ``rounds`` rounds ran (each adds at most ``per_round * n`` edges).
    Each round picks edges for ``target * (1 - aim)``: the top directions cluster, so a round
    that only just fixes the ones it saw leaves their neighbours above the target, and every
    further round costs a factorization and two Lanczos runs (delaunay 2^18, unit weights,
    K = 16, target 60 over 10 insertion batches: aim 0 -> 0.05 cut the loop's time from 169 s
    to 78 s, at 0.1157 instead of 0.1171 off-tree density). A round's sketch is the Ritz
    pairs above the target of the estimate's own run, taken on to ``krylov`` steps once its
    top value is above the target (``KappaEstimator.update``'s ``sketch``): on unit
    Delaunay 2^17 streamed in, the pairs above 0.9x the target matched a fresh random start's
    to 0.3 %, and a recovering check took 0.75-1.1 s instead of 1.0-1.3 s (a Lanczos run fewer
    per round); rounds whose picks under-deliver make the next more ambitious
    (:data:`LEAST_EFFECT`). With an infinite
    ``target`` it only estimates. With ``prune``, an estimate under ``PRUNE_BELOW * target``
    (no round needed) lets edges go instead (:func:`pick_prunes`, at most ``per_round * n``,
    for ``PRUNE_TO * target``), kept only if the estimate of the thinner H is still at most
    that; else the first half of them, then the first quarter, on the same terms
    (the sketch sees only the directions that are bad now; ``prune_refused`` says all were
    refused). A run under ``rebase`` times the target that recovered nothing first tries a
    rebase (:data:`REBASE_SHARE`; ``rebase_tried``): H becomes that static sparsifier, or a
    sparser one while the estimate is far under the ceiling (:func:`_thinner`; its edges
    outside H recovered, H's edges outside it pruned) if its estimate is at most
    ``PRUNE_TO * target`` (``rebase_refused`` says it was not), and then prunes nothing.
    Returns the outcome and the new mask."""
    start = time.perf_counter()
    mask = in_h.copy()
    estimate = estimator.update(graph, graph.subset(mask), target, krylov)
    before = estimate.lambda_max
    limit = max(1, int(per_round * graph.n))
    aimed = target * (1.0 - aim)
    done = 0
    effect = 1.0  # the share of the drop the last round's picks promised that it gave
    while estimate.lambda_max > target and done < rounds and estimate.sketch is not None:
        values, vectors = estimate.sketch
        needs = (values / aimed - 1.0) / effect
        picked = pick_recoveries(graph, ~mask, vectors, needs, limit)
        if picked.size == 0:
            break
        mask[picked] = True
        done += 1
        was = estimate.lambda_max
        estimate = estimator.update(graph, graph.subset(mask), target, krylov)
        gave = (was - estimate.lambda_max) / (was - aimed)
        effect = min(1.0, max(LEAST_EFFECT, effect * gave))
    pruned = np.zeros(0, np.int64)
    rebase_tried = done == 0 and estimate.lambda_max < rebase * target
    rebase_refused = False
    if rebase_tried:
        rebased, check = _rebase(graph, mask, estimator, PRUNE_TO * target)
        rebase_refused = not (check.estimated and check.lambda_max <= PRUNE_TO * target)
        if not rebase_refused:
            mask, estimate, pruned = rebased, check, np.flatnonzero(in_h & ~rebased)
    refused = False
    if prune and done == 0 and pruned.size == 0 and estimate.lambda_max < PRUNE_BELOW * target:
        picked = pick_prunes(
            graph,
            mask,
            lambda: _sketch(graph, mask, estimate, estimator, krylov, 0.0),
            PRUNE_TO * target,
            limit,
        )
        for trial in (picked, picked[: picked.shape[0] // 2], picked[: picked.shape[0] // 4]):
            if trial.size == 0:
                break
            thinner = mask.copy()
            thinner[trial] = False
            check = estimator.update(graph, graph.subset(thinner), ceiling=PRUNE_TO * target)
            refused = not (check.estimated and check.lambda_max <= PRUNE_TO * target)
            if not refused:
                mask, estimate, pruned = thinner, check, np.sort(trial)
                break
    estimator.release_graph()
    outcome = ControlOutcome(
        before,
        estimate.lambda_max,
        done,
        np.flatnonzero(mask & ~in_h),
        time.perf_counter() - start,
        estimate.reason,
        pruned,
        refused,
        rebase_refused,
        rebase_tried,
    )
    return outcome, mask


def _sketch(
    graph: EdgeList,
    in_h: NDArray[np.bool_],
    estimate: KappaEstimate,
    estimator: KappaEstimator,
    krylov: int,
    above: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The estimate's top pair and the Ritz pairs above ``above`` of a ``krylov``-step run
    from a random start (values, and vectors as rows)."""
    values, vectors = estimator.ritz(graph, graph.subset(in_h), krylov, above)
    return np.append(estimate.lambda_max, values), np.vstack([estimate.vector[None, :], vectors])


def off_tree_edges(graph: EdgeList, in_h: NDArray[np.bool_]) -> int:
    """Edges of H (the ``in_h`` rows, as connected as G) off a spanning forest."""
    return max(0, int(in_h.sum()) - (graph.n - components(graph)[0]))


def _rebase(
    graph: EdgeList, in_h: NDArray[np.bool_], estimator: KappaEstimator, ceiling: float
) -> tuple[NDArray[np.bool_], KappaEstimate]:
    """The static sparsifier of ``graph`` at :data:`REBASE_SHARE` of H's off-tree density
    (H: the ``in_h`` rows, as connected as G), and its estimate (cut short above
    ``ceiling``); while that is far under the ceiling, sparser ones (:func:`_thinner`)."""
    density = REBASE_SHARE * off_tree_edges(graph, in_h) / max(graph.n, 1)
    mask = static_sparsifier(graph.n, graph.u, graph.v, graph.w, density)
    estimate = estimator.update(graph, graph.subset(mask), ceiling=ceiling)
    if not (estimate.estimated and estimate.lambda_max <= ceiling):
        return mask, estimate
    return _thinner(graph, density, mask, estimate, ceiling, estimator)


def _thinner(
    graph: EdgeList,
    density: float,
    mask: NDArray[np.bool_],
    estimate: KappaEstimate,
    target: float,
    estimator: KappaEstimator,
    least: float = 0.01,
) -> tuple[NDArray[np.bool_], KappaEstimate]:
    """From the static sparsifier ``mask`` at ``density`` with ``estimate`` at most
    ``target``: while the estimate e is at most :data:`_TRY_THINNER` times the target, the
    static one at density times ``max(1/2, e / target)`` (kappa grows about as fast as
    density falls), kept if its estimate is at most the target (down to ``least``)."""
    while estimate.lambda_max <= _TRY_THINNER * target and density > least:
        trial = max(least, density * max(0.5, estimate.lambda_max / target))
        sparser = static_sparsifier(graph.n, graph.u, graph.v, graph.w, trial)
        check = estimator.update(graph, graph.subset(sparser), ceiling=target)
        if not (check.estimated and check.lambda_max <= target):
            break
        density, mask, estimate = trial, sparser, check
    return mask, estimate


def build_to_target(
    graph: EdgeList,
    target: float,
    estimator: KappaEstimator,
    rounds: int = 16,
    start: float = 0.10,
    least: float = 0.01,
) -> tuple[ControlOutcome, NDArray[np.bool_]]:
    """A sparsifier of ``graph`` with estimated kappa at most ``target`` at the least density
    this search finds (GRASS's "kappa <= X"): the static sparsifier at ``start`` off-tree
    density; while its estimate e is at most 0.8x the target, the static one at density times
    ``max(1/2, e / target)`` (kappa grows about as fast as density falls), kept if its
    estimate is at most the target (down to ``least``); then the recovery rounds of
    :func:`control_rounds`. Returns the rounds' outcome and the mask.

    Measured (one core, 2^16 nodes, seed 1, exact kappa; target given as 0.99x): unit
    Delaunay, target 100: 88.6 at 0.100 off-tree density; target 50: 49.7 at 0.115 (4.6 s);
    FEM mesh 33k, target 100: 89.5 at 0.100; log-normal Delaunay, target 200: 151.9 at 0.050;
    grid-circuit, target 100: 70.5 at 0.010, the floor (the former search, which halved only
    while the estimate was under half the target, stopped at 0.0125 with 58.2)."""
    mask = static_sparsifier(graph.n, graph.u, graph.v, graph.w, start)
    first = estimator.update(graph, graph.subset(mask))
    if first.estimated:
        mask, _ = _thinner(graph, start, mask, first, target, estimator, least)
    return control_rounds(graph, mask, target, estimator, rounds)
