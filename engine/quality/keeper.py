"""Kappa measured, and held under a target, in the background of the batches.

A *check* copies (G, H) at the end of a batch and, on a worker thread, estimates kappa
(``sparsiflow.engine.quality.estimator``) and, with a target, recovers edges of G into H until
the estimate is under it (``sparsiflow.engine.quality.control``). Batches keep flowing while it
runs. Its result *enters* at the first batch after which as many updates again have been applied
as opened the check's window (``kappa_change`` times G's edges when it started; at least the
next batch), or at the next batch without updates (a way to settle a graph that has gone quiet:
such a batch also starts a check if G changed since the last one began, so a stream's tail is
checked too), and the engine waits for it there if it is late. A check starts after the first
batch that leaves G with an edge, then after the batch where its predecessor entered once the
window of updates is full again. So when a check starts, what it reads and where it enters
depend only on the batches: the same input, batches, config and seed give the same deltas
however fast the thread runs.

Recovered edges enter if G still has them and H does not (with G's weight at entry). With a
target, a check under it lets edges go, for the least density: pruning when the estimate is
well under it (``control_rounds(prune=True)``; after a refused one the next checks skip it),
else a rebase of H on a sparser static build (after a refused one, the next waits until H has
``REBASE_AGAIN`` times the off-tree density). They leave H at entry if H still has them and the
entering batch did not touch them, except any whose loss would split a component of H (with
the edges entering beside them). A check that is pending when the engine is
snapshotted is not saved: after a restore the next check starts with the next batch (nothing
published is contradicted; later deltas may differ from an uninterrupted run's). The
estimator persists between checks, so each warm-starts from the previous top eigenvector.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.exceptions import failure_reason
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.control import (
    MARGIN,
    REBASE_AGAIN,
    control_rounds,
    off_tree_edges,
)
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.results import KappaReading

__all__ = ["QualityKeeper"]

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparsiflow-quality")
"""One thread for every graph's checks: they queue rather than compete for cores."""

Pairs = tuple[NDArray[np.int64], NDArray[np.int64]]

_MOST_PRUNE_SKIP = 16
"""After a check whose pruning was refused, the next 1, 2, 4, ... (at most this many) checks
do not try: a try costs a Ritz sketch and one or two estimates (2.5-3 s at 2^18), and where H
is already about as thin as the target allows every try is refused (2^18 log-normal Delaunay,
T = 68.3: all 13,107 picks, half and a quarter were refused)."""


@dataclass(frozen=True)
class _Outcome:
    reading: KappaReading
    pairs: Pairs  # recovered edges (internal lo < hi)
    pruned: Pairs  # edges it let go from H
    rebase_from: float | None = None  # the rebase reference it leaves (None: it tried none)


@dataclass
class _Pending:
    future: Future[_Outcome]
    due: int  # enters at the first batch after which this many updates have been applied


class QualityKeeper:
    """Schedules one graph's checks and hands their results to the batch where they enter."""

    def __init__(self, target: float | None, change: float, rounds: int, seed: int) -> None:
        self.target = target
        self._change, self._rounds = change, rounds
        self._estimator = KappaEstimator(seed=seed)
        self._applied = 0  # updates applied to G so far
        self._next = 0  # a check may start once this many updates have been applied
        self._started = -1  # updates applied when the last check started
        self._pending: _Pending | None = None
        self._prune_backoff = 0  # checks skipped after the last refused pruning
        self._prune_skip = 0  # checks still to run without trying to prune
        self._rebase_from = 0.0  # see _check

    def counted(self, updates: int) -> None:
        """Count a batch's net updates to G."""
        self._applied += updates

    def due(self, empty: bool) -> _Outcome | None:
        """The pending check's result when this batch is where it enters (waiting for it if
        it is still running), else None. An ``empty`` batch (no updates) takes it at once."""
        if self._pending is None or (self._applied < self._pending.due and not empty):
            return None
        outcome = self._pending.future.result()
        self._pending = None
        if outcome.rebase_from is not None:
            self._rebase_from = outcome.rebase_from
        return outcome

    def wants_check(self, edges: int, empty: bool) -> bool:
        """Whether a check starts now, G having ``edges`` edges, after a batch (``empty``: one
        without updates, which settles: G changed since the last check began is enough)."""
        if self._pending is not None or edges == 0:
            return False
        return self._applied >= self._next or (empty and self._applied > self._started)

    def start(self, batch: int, graph: EdgeList, in_h: NDArray[np.bool_]) -> None:
        """Start a check of (``graph``, its ``in_h`` rows) as of ``batch``."""
        window = max(1, math.ceil(self._change * graph.m))
        self._started, self._next = self._applied, self._applied + window
        future = _POOL.submit(self._check, batch, graph, in_h, self._rebase_from)
        self._pending = _Pending(future, self._applied + window)

    @property
    def pending(self) -> bool:
        """Whether a check has started and not yet entered."""
        return self._pending is not None

    @property
    def unchecked(self) -> bool:
        """Whether G changed since the last check began (or no check began yet)."""
        return self._applied > self._started

    @property
    def finished(self) -> bool:
        """Whether a pending check has finished (its result waits for a batch to enter)."""
        return self._pending is not None and self._pending.future.done()

    def close(self) -> None:
        """Wait for a pending check and drop its result."""
        if self._pending is not None:
            self._pending.future.result()
            self._pending = None

    def built(self, density: float) -> None:
        """H was just built to the target at the least density found, ``density`` off-tree
        edges per node: a rebase waits until H has grown as after a refused one."""
        self._rebase_from = density

    def _check(
        self, batch: int, graph: EdgeList, in_h: NDArray[np.bool_], rebase_from: float
    ) -> _Outcome:
        """Estimate, and hold the target (on the worker thread). Never raises. A rebase is
        tried when H's off-tree density (edges per node) is over ``REBASE_AGAIN`` times
        ``rebase_from``: 0 at first (the first check tries), the density at a refused try or
        at a build to the target (``built``), 0 again after a kept one; it changes where the
        check enters, so the same batches give the same tries however fast the thread runs.
        (A density, not a count: a graph growing from empty grows H with it.)"""
        none = np.zeros(0, np.int64)
        target = math.inf if self.target is None else self.target * (1 - MARGIN)
        try:
            prune = self.target is not None and self._prune_skip == 0
            self._prune_skip = max(0, self._prune_skip - 1)
            density = off_tree_edges(graph, in_h) / max(graph.n, 1)
            rebase = self.target is not None and density > REBASE_AGAIN * rebase_from
            outcome, _ = control_rounds(
                graph, in_h, target, self._estimator, self._rounds, prune=prune, rebase=rebase
            )
        except Exception as exc:  # a check is optional: its failure must not stop the stream
            reading = KappaReading(batch, None, None, 0, 0.0, failure_reason("error", exc))
            return _Outcome(reading, (none, none), (none, none))
        if outcome.pruned.size:
            self._prune_backoff = 0
        elif outcome.prune_refused:
            self._prune_backoff = min(_MOST_PRUNE_SKIP, 2 * self._prune_backoff or 1)
            self._prune_skip = self._prune_backoff
        rows = outcome.recovered
        reason = outcome.reason
        if reason is None and math.isinf(outcome.lambda_after):
            reason = "sparsifier_disconnected: H has more connected components than G"
        value = None if reason is not None else outcome.lambda_after
        before = None if reason is not None else outcome.lambda_before
        reading = KappaReading(batch, value, before, int(rows.shape[0]), outcome.seconds, reason)
        cut = outcome.pruned
        after = (density if outcome.rebase_refused else 0.0) if rebase else None
        pairs = (graph.u[rows], graph.v[rows])
        return _Outcome(reading, pairs, (graph.u[cut], graph.v[cut]), after)
