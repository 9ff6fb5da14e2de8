"""Kappa measured, and held under a target, in the background of the batches.

A *check* copies (G, H) at the end of a batch and, in a process of its own, estimates kappa
(``sparsiflow.engine.quality.estimator``) and, with a target, recovers edges of G into H until
the estimate is under it (``sparsiflow.engine.quality.control``). Batches keep flowing while it
runs. A process, not a thread: a check's Python code between its kernels needs the GIL, which
a worker's intake holds (2^17-node Delaunay streamed in from empty, batch-form records, one
worker, 2 cores: the checks took 9.3 s on a thread and 7.2 s in their process; the batches' own
engine time was 1.36x and 1.0x of the same batches applied alone; offline, a check on a thread
beside one busy pure-Python thread took 15x as long). Each check carries G, H and the
estimator's state there and back (its factorization stays behind: ``KappaEstimator`` pickles
without it), so where it runs changes no result. A check whose process dies (out of memory,
say) is reported as not estimated; the next one starts a new process.

Its result *enters* at the first batch after which as many updates again have been applied
as opened the check's window (``kappa_change`` times G's edges when it started; at least the
next batch), or at the next batch without updates (a way to settle a graph that has gone quiet:
such a batch also starts a check if G changed since the last one began, so a stream's tail is
checked too), and the engine waits for it there if it is late. A check starts after the first
batch that leaves G with an edge, then after the batch where its predecessor entered once the
window of updates is full again. So when a check starts, what it reads and where it enters
depend only on the batches: the same input, batches, config and seed give the same deltas
however fast the checks run.

Recovered edges enter if G still has them and H does not (with G's weight at entry). With a
target, a check under it lets edges go, for the least density: a rebase of H on a sparser
static build (after a refused one, the next waits until H has ``REBASE_AGAIN`` times the
off-tree density), else pruning when the estimate is well under it
(``control_rounds(prune=True)``; after a refused one the next checks skip it). They leave H at
entry if H still has them and the entering batch did not touch them, except any whose loss
would split a component of H (with the edges entering beside them); the engine then judges
again the edges inserted while the check ran. A check that is pending when the engine is
snapshotted is not saved: after a restore the next check starts with the next batch (nothing
published is contradicted; later deltas may differ from an uninterrupted run's). The
estimator's state passes from each check to the next, so each warm-starts from the previous
top eigenvector.

A program that makes engines with checks runs them in processes started by ``multiprocessing``
("forkserver"), which imports the program's main script: guard its top-level code with
``if __name__ == "__main__":`` (the ``sparsiflow`` commands and the benchmarks do).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from sparsiflow.engine.exceptions import failure_reason
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.control import (
    MARGIN,
    PRUNE_BELOW,
    REBASE_AGAIN,
    control_rounds,
    off_tree_edges,
)
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.results import KappaReading

__all__ = ["QualityKeeper"]

_pool: ProcessPoolExecutor | None = None
"""One process for every graph's checks (they queue rather than compete for cores), started
at the first check and again after it died (see :func:`_submit`)."""

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
    prune_refused: bool = False  # it tried to prune and both tries were refused
    estimator: KappaEstimator | None = None  # the estimator's state after it (None: unchanged)


@dataclass
class _Pending:
    future: Future[_Outcome]
    batch: int  # the batch whose G and H it reads
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
        self._rebase_from = 0.0  # see start

    def counted(self, updates: int) -> None:
        """Count a batch's net updates to G."""
        self._applied += updates

    def due(self, empty: bool) -> _Outcome | None:
        """The pending check's result when this batch is where it enters (waiting for it if
        it is still running), else None. An ``empty`` batch (no updates) takes it at once."""
        if self._pending is None or (self._applied < self._pending.due and not empty):
            return None
        outcome = _result(self._pending)
        self._pending = None
        if outcome.rebase_from is not None:
            self._rebase_from = outcome.rebase_from
        if outcome.estimator is not None:
            self._estimator = outcome.estimator
        if outcome.pruned[0].size:
            self._prune_backoff = 0
        elif outcome.prune_refused:
            self._prune_backoff = min(_MOST_PRUNE_SKIP, 2 * self._prune_backoff or 1)
            self._prune_skip = self._prune_backoff
        return outcome

    def wants_check(self, edges: int, empty: bool) -> bool:
        """Whether a check starts now, G having ``edges`` edges, after a batch (``empty``: one
        without updates, which settles: G changed since the last check began is enough)."""
        if self._pending is not None or edges == 0:
            return False
        return self._applied >= self._next or (empty and self._applied > self._started)

    def start(self, batch: int, graph: EdgeList, in_h: NDArray[np.bool_]) -> None:
        """Start a check of (``graph``, its ``in_h`` rows) as of ``batch``, in the checks'
        process. A rebase may be tried when H's off-tree density (edges per node) is over
        ``REBASE_AGAIN`` times the reference: 0 at first, the density at a refused try or at a
        build to the target (``built``), 0 again after a kept one; it changes where the check
        enters, so the same batches give the same tries however fast the checks run. (A
        density, not a count: a graph growing from empty grows H with it.) It is tried if the
        estimate is under ``PRUNE_BELOW`` of the target, or under the target itself once H has
        so grown since a reference above 0 (H gathers edges while its worst directions stay
        near the target)."""
        window = max(1, math.ceil(self._change * graph.m))
        self._started, self._next = self._applied, self._applied + window
        density = off_tree_edges(graph, in_h) / max(graph.n, 1)
        job = _Job(
            batch,
            graph,
            in_h,
            self.target,
            self._rounds,
            prune=self.target is not None and self._prune_skip == 0,
            rebase=self._rebase_band(density),
            density=density,
            estimator=self._estimator,
        )
        self._prune_skip = max(0, self._prune_skip - 1)
        self._pending = _Pending(_submit(job), batch, self._applied + window)

    def _rebase_band(self, density: float) -> float:
        """The share of the target under which a check tries a rebase (0: none), see start."""
        if self.target is None or not density > REBASE_AGAIN * self._rebase_from:
            return 0.0
        return 1.0 if self._rebase_from > 0 else PRUNE_BELOW

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
            _result(self._pending)
            self._pending = None

    def built(self, density: float) -> None:
        """H was just built to the target at the least density found, ``density`` off-tree
        edges per node: a rebase waits until H has grown as after a refused one."""
        self._rebase_from = density


@dataclass(frozen=True)
class _Job:
    """One check: what it reads, what it may do, and the estimator's state to start from."""

    batch: int
    graph: EdgeList
    in_h: NDArray[np.bool_]
    target: float | None
    rounds: int
    prune: bool
    rebase: float  # the share of the target under which it tries a rebase
    density: float  # H's off-tree edges per node
    estimator: KappaEstimator


def _run(job: _Job) -> _Outcome:
    """Estimate, and hold the target (in the checks' process). Never raises."""
    none = np.zeros(0, np.int64)
    graph, estimator = job.graph, job.estimator
    target = math.inf if job.target is None else job.target * (1 - MARGIN)
    try:
        outcome, _ = control_rounds(
            graph,
            job.in_h,
            target,
            estimator,
            job.rounds,
            prune=job.prune,
            rebase=job.rebase,
        )
    except Exception as exc:  # a check is optional: its failure must not stop the stream
        reading = KappaReading(job.batch, None, None, 0, 0.0, failure_reason("error", exc))
        return _Outcome(reading, (none, none), (none, none), estimator=estimator)
    rows = outcome.recovered
    reason = outcome.reason
    if reason is None and math.isinf(outcome.lambda_after):
        reason = "sparsifier_disconnected: H has more connected components than G"
    value = None if reason is not None else outcome.lambda_after
    before = None if reason is not None else outcome.lambda_before
    reading = KappaReading(job.batch, value, before, int(rows.shape[0]), outcome.seconds, reason)
    cut = outcome.pruned
    after = (job.density if outcome.rebase_refused else 0.0) if outcome.rebase_tried else None
    pairs = (graph.u[rows], graph.v[rows])
    return _Outcome(
        reading,
        pairs,
        (graph.u[cut], graph.v[cut]),
        after,
        outcome.prune_refused,
        estimator,
    )


def _submit(job: _Job) -> Future[_Outcome]:
    """Run ``job`` in the checks' process (started, or started again, here)."""
    global _pool
    try:
        _pool = _pool or _new_pool()
        return _pool.submit(_run, job)
    except BrokenProcessPool:  # its process died since the last check
        _pool = _new_pool()
        return _pool.submit(_run, job)


def _new_pool() -> ProcessPoolExecutor:
    """One process, forked from a bare server process (a process with threads must not fork
    itself; a preloading server would import the caller's main script), BLAS on one thread:
    the worker's other cores are busy."""
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(1, mp_context=context, initializer=_one_blas_thread)


def _result(pending: _Pending) -> _Outcome:
    """A pending check's outcome; a failed one if its process died (the next starts another)."""
    try:
        return pending.future.result()
    except BrokenProcessPool as exc:
        none = np.zeros(0, np.int64)
        reason = failure_reason("check_process_died", exc)
        reading = KappaReading(pending.batch, None, None, 0, 0.0, reason)
        return _Outcome(reading, (none, none), (none, none))


def _one_blas_thread() -> None:
    threadpool_limits(limits=1, user_api="blas")
