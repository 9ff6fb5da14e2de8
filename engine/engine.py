"""The dynamic sparsification engine: one graph G, its sparsifier H, batches of updates in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine import snapshot
from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.exceptions import EngineError
from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.engine.graph.netchange import NEW, REMOVED, REWEIGHTED, NetChange, net_change
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.quality.control import (
    MARGIN,
    build_to_target,
    off_tree_edges,
    pick_recoveries,
)
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.quality.keeper import QualityKeeper
from sparsiflow.engine.results import BatchReport, Delta, GraphStats, KappaReading
from sparsiflow.engine.rules.deletion import EdgeBuffer, delete_and_repair
from sparsiflow.engine.rules.insertion import (
    STAT_SETTLED,
    STAT_STEPS,
    add_critical,
    judge_exact,
    needs_walks,
    surely_redundant,
)
from sparsiflow.engine.rules.search import Workspace, heap_for, new_workspace, overflowed
from sparsiflow.engine.store.components import add_isolated
from sparsiflow.engine.store.graph_store import GraphStore
from sparsiflow.engine.store.initial import components_of, initial_store, no_edges
from sparsiflow.engine.store.layout import GENERATION
from sparsiflow.engine.store.mutations import (
    add_to_g,
    add_to_h,
    prune_from_h,
    remove_edges,
    reweight,
)
from sparsiflow.engine.store.node_ids import IdMap
from sparsiflow.engine.threads import Chunks
from sparsiflow.engine.walks.backends import make_backend
from sparsiflow.engine.walks.rng import graph_hash, update_keys

__all__ = ["Engine", "warm_up"]

_REPAIR_STREAM = 1 << 40  # RNG index offset of repair walks within a batch
_BULK_DENSITY = 0.10  # off-tree density of a bulk build without a target

Edges = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


class Engine:
    """Keeps a spectral sparsifier H of a changing graph G.

    ``apply`` takes a validated :class:`UpdateBatch` and returns the batch's delta of H with
    counts and timings. After every batch: H is a subgraph of G with G's weights and exactly
    G's connected components, and the deltas replayed in order reproduce H.
    """

    def __init__(self, config: EngineConfig | None = None, graph_id: str = "") -> None:
        self.config = config or EngineConfig()
        self.graph_id = graph_id
        self.batch_number = 0
        self._graph_key = graph_hash(graph_id)
        self._ids = IdMap()
        self._walks = make_backend(self.config.backend)
        self._changed: list[NDArray[np.int64]] = []
        self._window: list[NDArray[np.int64]] = []  # see _rejudge_window
        self._buffer = EdgeBuffer.new(64)
        self._chunks = Chunks(self.config.threads)
        self._spare: list[Workspace] = []  # the extra threads' search workspaces
        self._keeper = QualityKeeper(
            self.config.target_kappa,
            self.config.kappa_change,
            self.config.control_rounds,
            int(update_keys(self.config.seed, self._graph_key, 0, 1 << 41, 1)[0] >> np.uint64(33)),
        )
        self._set_state(GraphStore.from_edges(0, *no_edges(), np.zeros(0, np.bool_)))

    def _set_state(self, store: GraphStore) -> None:
        self._store = store
        self._ws = new_workspace(store.nodes)
        self._comp = components_of(store)

    @classmethod
    def from_graph(
        cls,
        u: NDArray[np.integer],
        v: NDArray[np.integer],
        w: NDArray[np.floating],
        *,
        config: EngineConfig | None = None,
        graph_id: str = "",
        nodes: NDArray[np.integer] | None = None,
        sparsifier: tuple[NDArray[np.integer], NDArray[np.integer]] | None = None,
        off_tree_density: float = 0.10,
        reorder: bool = True,
    ) -> Engine:
        """Start from a snapshot of G (distinct edges, external ids; ``nodes`` lists isolated
        nodes too). H is the given ``sparsifier`` edges (a subgraph of G with the same
        components) or the static sparsifier at ``off_tree_density``. With ``reorder`` the
        internal indices follow a reverse Cuthill-McKee order of G, so that neighbours sit close
        in memory (searches touch fewer cache lines); results do not depend on it."""
        engine = cls(config, graph_id)
        ids, store = initial_store(
            UpdateBatch.inserts(np.asarray(u), np.asarray(v), np.asarray(w)),
            np.zeros(0, np.int64) if nodes is None else np.asarray(nodes, dtype=np.int64),
            sparsifier,
            off_tree_density,
            reorder,
        )
        engine._ids.add(ids)
        engine._set_state(store)
        return engine

    # ----------------------------------------------------------------------------- batches
    def apply(self, batch: UpdateBatch) -> BatchReport:
        """Apply one micro-batch; return the delta of H and the batch's figures."""
        cfg = self.config
        seconds: dict[str, float] = {}
        stats = np.zeros(4, np.int64)
        clock = time.perf_counter()
        net = self._prepare(batch)
        keys = update_keys(cfg.seed, self._graph_key, self.batch_number, 0, net.lo.shape[0])
        seconds["prepare"] = time.perf_counter() - clock

        clock = time.perf_counter()
        removed = net.kind == REMOVED
        outside, inside = removed & ~net.in_h, removed & net.in_h
        remove_edges(self._store.arrays, net.lo[outside], net.hi[outside])
        rew = net.kind == REWEIGHTED
        reweight(self._store.arrays, net.lo[rew], net.hi[rew], net.w_new[rew])
        rh = rew & net.in_h
        lowered = rh & (net.w_new <= cfg.repair_lowered * net.w_old)
        repaired = self._repair(
            *self._oriented(net.lo[inside | lowered], net.hi[inside | lowered]),
            lowered[inside | lowered],
            keys[inside | lowered] ^ np.uint64(_REPAIR_STREAM),
            stats,
        )
        self._changed += [net.lo[inside], net.hi[inside], net.lo[rh], net.hi[rh], *repaired[:2]]
        seconds["delete"] = time.perf_counter() - clock

        clock = time.perf_counter()
        new = net.kind == NEW
        before = self._store.edges
        self._resume(
            lambda i: add_to_g(self._store.arrays, net.lo[new], net.hi[new], net.w_new[new], i),
            int(new.sum()),
        )
        cand = new | (rew & ~net.in_h & (net.w_new > net.w_old))
        bulk = cfg.bulk_growth > 0 and int(new.sum()) >= max(1.0, cfg.bulk_growth * before)
        pruned: tuple[NDArray[np.int64], NDArray[np.int64]] = no_edges()[:2]
        if bulk:
            critical = np.zeros(int(cand.sum()), np.bool_)
            kept = (
                np.concatenate([repaired[0], net.lo[rh]]),
                np.concatenate([repaired[1], net.hi[rh]]),
            )
            built, pruned = self._bulk_build(kept)
            seconds["bulk"] = time.perf_counter() - clock
        else:
            critical = self._judge(
                *self._oriented(net.lo[cand], net.hi[cand]), net.w_new[cand], keys[cand], stats
            )
            built = no_edges()
            seconds["insert"] = time.perf_counter() - clock

        self._changed += [net.lo[cand][critical], net.hi[cand][critical]]
        if self._keeper.pending:
            self._window += [net.lo[cand][~critical], net.hi[cand][~critical]]
        clock = time.perf_counter()
        self._keeper.counted(int(net.counts[:3].sum()))
        entered, cut, kappa = self._enter_check(len(batch) == 0, take_edges=not bulk)
        recovered = _joined(built, entered)
        pruned = (np.concatenate([pruned[0], cut[0]]), np.concatenate([pruned[1], cut[1]]))
        seconds["quality"] = time.perf_counter() - clock
        self._walks.sync(self._store.arrays, self._touched())
        delta = self._delta(
            repaired,
            (net.lo[cand][critical], net.hi[cand][critical], net.w_new[cand][critical]),
            (net.lo[inside], net.hi[inside]),
            (net.lo[rh], net.hi[rh], net.w_new[rh]),
            recovered,
            pruned,
        )
        report = BatchReport(
            batch=self.batch_number,
            delta=delta,
            stats=self.stats(),
            inserted=int(net.counts[0]),
            deleted=int(net.counts[1]),
            reweighted=int(net.counts[2]),
            unknown=int(net.counts[3]),
            critical=int(critical.sum()),
            repaired=int(repaired[0].shape[0]),
            recovered=int(recovered[0].shape[0]),
            walker_steps=int(stats[STAT_STEPS]),
            settled=int(stats[STAT_SETTLED]),
            seconds=seconds,
            kappa=kappa,
        )
        if cfg.kappa_change > 0 and self._keeper.wants_check(self._store.edges, len(batch) == 0):
            clock = time.perf_counter()
            lo, hi, w, in_h = self._store.flagged_edges()
            self._keeper.start(self.batch_number, EdgeList(self._store.nodes, lo, hi, w), in_h)
            self._window = []
            seconds["quality"] += time.perf_counter() - clock
        self.batch_number += 1
        return report

    def _prepare(self, batch: UpdateBatch) -> NetChange:
        """Map ids (creating nodes for insertions) and reduce the batch to its net change."""
        before = len(self._ids)
        a = np.full(len(batch), -1, np.int64)
        b = np.full(len(batch), -1, np.int64)
        ins = batch.ops == Op.INSERT
        ends = self._ids.add(np.stack([batch.u[ins], batch.v[ins]], axis=1).ravel()).reshape(-1, 2)
        a[ins], b[ins] = ends[:, 0], ends[:, 1]
        a[~ins], b[~ins] = self._ids.lookup(batch.u[~ins]), self._ids.lookup(batch.v[~ins])
        created = len(self._ids) - before
        if created:
            self._store.add_nodes(created)
            self._comp = self._comp.reserve(len(self._ids), created)
            add_isolated(self._comp, before, created)
            if len(self._ids) > self._ws.dist.shape[0]:
                nodes = len(self._ids) * 3 // 2
                heap = max(self._ws.heap_key.shape[1], heap_for(nodes))
                self._ws = new_workspace(nodes, heap, self._ws)
        return net_change(self._store.arrays, a, b, batch.ops, batch.w)

    def _oriented(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(p, q) with p the end of smaller external id: walks and searches start at p."""
        ext = self._ids.external
        swap = ext[lo] > ext[hi]
        return np.where(swap, hi, lo), np.where(swap, lo, hi)

    def _touched(self) -> NDArray[np.int64]:
        """Dense ids of nodes whose H lists changed since the last call."""
        touched = np.concatenate([np.zeros(0, np.int64), *self._changed])
        self._changed.clear()
        return touched

    @property
    def backend(self) -> str:
        """Name of the backend the walks run on (``auto`` resolved)."""
        return self._walks.name

    def _resume(self, step: Callable[[int], int], total: int) -> None:
        """Run a resumable kernel to the end, growing the store or the search heap between runs."""
        done = 0
        while (done := step(done)) < total:
            if overflowed(self._ws):
                self._ws = new_workspace(
                    self._ws.dist.shape[0], self._ws.heap_key.shape[1] * 4, self._ws
                )
            elif self._buffer.used[1]:
                self._buffer = self._buffer.enlarged()
            else:
                self._store.grow()

    def _repair(
        self,
        lo: NDArray[np.int64],
        hi: NDArray[np.int64],
        keep: NDArray[np.bool_],
        keys: NDArray[np.uint64],
        stats: NDArray[np.int64],
    ) -> Edges:
        """Repair the H edges (p, q), deleted or, where ``keep``, lowered; returns the edges
        the repairs added."""
        cfg = self.config
        self._comp = self._comp.reserve(len(self._ids), lo.shape[0])
        done = np.zeros(lo.shape[0], np.bool_)
        walks = cfg.mode == "dygrass"
        self._buffer = EdgeBuffer.new(4 * lo.shape[0] + 64)
        self._resume(
            lambda i: delete_and_repair(
                self._store.arrays, self._ws, self._comp, lo, hi, keep, done, keys, i, walks,
                cfg.walkers, cfg.max_steps, cfg.repair_discount, self._buffer, stats,
            ),
            lo.shape[0],
        )  # fmt: skip
        return self._buffer.rows()

    def _judge(
        self,
        lo: NDArray[np.int64],
        hi: NDArray[np.int64],
        w: NDArray[np.float64],
        keys: NDArray[np.uint64],
        stats: NDArray[np.int64],
    ) -> NDArray[np.bool_]:
        cfg = self.config
        critical = np.zeros(lo.shape[0], np.bool_)
        if cfg.mode == "default":
            redundant = np.zeros(lo.shape[0], np.bool_)
            workspaces = self._workspaces()

            def prefilter(k: int, part: slice) -> NDArray[np.int64]:
                counts = np.zeros_like(stats)
                surely_redundant(
                    self._store.arrays, workspaces[k], lo[part], hi[part], w[part],
                    cfg.local_threshold, cfg.parallel_paths, redundant[part], counts,
                )  # fmt: skip
                return counts

            stats += sum(self._chunks.run(lo.shape[0], prefilter))
            self._resume(
                lambda i: judge_exact(
                    self._store.arrays, self._ws, self._comp, lo, hi, w, redundant, critical, i,
                    cfg.local_threshold, cfg.parallel_paths, stats,
                ),
                lo.shape[0],
            )  # fmt: skip
        else:
            walk = needs_walks(self._store.arrays, self._comp, lo, hi, critical)
            self._walks.sync(self._store.arrays, self._touched())
            p, q, wp, kp = lo[walk], hi[walk], w[walk], keys[walk]
            chunks = self._chunks if self._walks.name == "numba" else Chunks(1)
            parts = chunks.run(
                p.shape[0],
                lambda _, c: self._walks.insertion_walks(
                    self._store.arrays, p[c], q[c], wp[c], kp[c],
                    cfg.local_threshold, cfg.walkers, cfg.max_steps,
                ),
            )  # fmt: skip
            critical[walk] = ~np.concatenate([np.zeros(0, np.bool_), *(f for f, _ in parts)])
            stats[STAT_STEPS] += sum(steps for _, steps in parts)
            self._resume(
                lambda i: add_critical(self._store.arrays, self._comp, lo, hi, w, critical, i),
                lo.shape[0],
            )
        return critical

    def _workspaces(self) -> list[Workspace]:
        """One search workspace per thread (the engine's own first), sized for every node."""
        nodes, heap = self._ws.dist.shape[0], self._ws.heap_key.shape[1]
        self._spare = [
            ws if ws.dist.shape[0] >= nodes else new_workspace(nodes, heap)
            for ws in self._spare[: self.config.threads - 1]
        ]
        while len(self._spare) < self.config.threads - 1:
            self._spare.append(new_workspace(nodes, heap))
        return [self._ws, *self._spare]

    def _bulk_build(
        self, kept: tuple[NDArray[np.int64], NDArray[np.int64]]
    ) -> tuple[Edges, tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """H for a batch that brought most of G: a sparsifier of the whole G built to the
        target (``build_to_target``; without a target, or when estimating fails, the static one
        at 0.10 off-tree density) replaces H, except the ``kept`` pairs this batch already
        changed in H. Returns the edges added and the pairs pruned (out of H, still in G)."""
        lo, hi, w, in_h = self._store.flagged_edges()
        graph = EdgeList(self._store.nodes, lo, hi, w)
        target = self.config.target_kappa
        mask = static_sparsifier(graph.n, lo, hi, w, _BULK_DENSITY)
        if target is not None:
            seed = update_keys(self.config.seed, self._graph_key, self.batch_number, 1 << 42, 1)
            estimator = KappaEstimator(seed=int(seed[0] >> np.uint64(33)))
            # an estimate is optional: the static sparsifier is a valid H if it fails
            with contextlib.suppress(Exception):
                _, mask = build_to_target(graph, target * (1 - MARGIN), estimator)
                self._keeper.built(off_tree_edges(graph, mask) / max(graph.n, 1))
        n = max(graph.n, 1)
        stale = in_h & ~mask & ~np.isin(lo * n + hi, kept[0] * n + kept[1])
        gone = lo[stale], hi[stale]
        prune_from_h(self._store.arrays, *gone)
        rows = np.flatnonzero(mask & ~in_h)
        lo, hi, w = lo[rows], hi[rows], w[rows]
        self._resume(
            lambda i: add_to_h(self._store.arrays, self._comp, lo, hi, w, i), rows.shape[0]
        )
        self._comp = components_of(self._store)
        self._changed += [lo, hi, *gone]
        return (lo, hi, w), gone

    def _enter_check(
        self, empty: bool, take_edges: bool
    ) -> tuple[Edges, tuple[NDArray[np.int64], NDArray[np.int64]], KappaReading | None]:
        """The background check that enters with this batch (``empty``: one without updates),
        if any: with ``take_edges`` (not after a bulk build, which judged the whole G anew) its
        recovered edges that G still has and H lacks go into H (G's weights), and its pruned
        edges that H still has and this batch did not touch leave H, except those whose loss
        would split one of H's components and those the local rule now finds critical (G and
        H changed since the check read them); after a prune, the edges judged while the check
        ran are judged again (:meth:`_rejudge_window`). Returns the recovered edges (with those
        judged critical again), the pruned pairs and its reading."""
        outcome = self._keeper.due(empty)
        none = no_edges()
        if outcome is None or not take_edges:
            return none, none[:2], None if outcome is None else outcome.reading
        if outcome.pairs[0].size == 0 and outcome.pruned[0].size == 0:
            return none, none[:2], outcome.reading  # it only measured: no pass over G
        lo, hi, w, in_h = self._store.flagged_edges()
        n = max(self._store.nodes, 1)
        keys = lo * n + hi
        wanted = np.isin(keys, outcome.pairs[0] * n + outcome.pairs[1])
        going = np.zeros(keys.shape[0], np.bool_)
        if outcome.pruned[0].size:
            going = self._prunable(keys, in_h, outcome.pruned[0] * n + outcome.pruned[1])
            going &= ~_bridging(self._store.nodes, lo, hi, in_h | wanted, going)
        tried = lo[going], hi[going], w[going]
        prune_from_h(self._store.arrays, *tried[:2])
        rows = np.flatnonzero(wanted & ~in_h)
        lo, hi, w = lo[rows], hi[rows], w[rows]
        self._resume(
            lambda i: add_to_h(self._store.arrays, self._comp, lo, hi, w, i), rows.shape[0]
        )
        self._changed += [lo, hi, *tried[:2]]
        cut = self._still_redundant(*tried) if going.any() else tried[:2]
        entered = lo, hi, w
        if cut[0].shape[0]:
            self._comp = components_of(self._store)
            entered = _joined(entered, self._rejudge_window())
        return entered, cut, outcome.reading

    def _rejudge_window(self) -> Edges:
        """The edges of G outside H that batches judged redundant while the check now entering
        ran, judged again against H as it is after its prunes (they were judged against the
        denser H: grid-circuit 2^18, a rebase read at batch 8 entered at batch 10 and the next
        estimate read 46.2 where the rebase's own was 12.6). The critical ones go into H; they
        are returned."""
        n = max(self._store.nodes, 1)
        judged = [a * n + b for a, b in zip(self._window[::2], self._window[1::2], strict=True)]
        self._window = []
        pairs = np.unique(np.concatenate([np.zeros(0, np.int64), *judged]))
        lo, hi = pairs // n, pairs % n  # in (lo, hi) order, as G's edges are judged
        out = self._store.outside_h(lo, hi)
        lo, hi = lo[out], hi[out]
        w = self._store.weights(lo, hi)
        keys = update_keys(self.config.seed, self._graph_key, self.batch_number, 1 << 44, len(lo))
        critical = self._judge(*self._oriented(lo, hi), w, keys, np.zeros(4, np.int64))
        self._changed += [lo[critical], hi[critical]]
        return lo[critical], hi[critical], w[critical]

    def _still_redundant(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64], w: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Of edges just pruned from H, those the local rule still finds redundant in G and H as
        they are now (the check judged them in the G it read; G changed since): the others go
        back into H, judged as insertions are."""
        keys = update_keys(self.config.seed, self._graph_key, self.batch_number, 1 << 43, len(lo))
        stats = np.zeros(4, np.int64)
        back = self._judge(*self._oriented(lo, hi), w, keys, stats)
        self._changed += [lo[back], hi[back]]
        return lo[~back], hi[~back]

    def _prunable(
        self, keys: NDArray[np.int64], in_h: NDArray[np.bool_], pruned: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Rows (of ``keys``, G's pair keys) among the ``pruned`` keys that H still has and
        this batch has not changed in H."""
        n = max(self._store.nodes, 1)
        changed = self._changed
        touched = [
            np.minimum(a, b) * n + np.maximum(a, b)
            for a, b in zip(changed[::2], changed[1::2], strict=True)
        ]
        return np.isin(keys, pruned) & in_h & ~np.isin(keys, np.concatenate([keys[:0], *touched]))

    @property
    def settle_due(self) -> bool:
        """Whether a batch without updates (``UpdateBatch.empty()``) would settle this graph
        now that it has gone quiet, without waiting: a finished check waits to enter, or no
        check runs and none has read G as it is."""
        keeper = self._keeper
        if self.config.kappa_change == 0 or self._store.edges == 0:
            return False
        return keeper.finished or (not keeper.pending and keeper.unchecked)

    @property
    def checking(self) -> bool:
        """Whether a background kappa check runs or waits to enter."""
        return self._keeper.pending

    def settle(self) -> list[BatchReport]:
        """Settle a graph that has gone quiet, waiting for its checks: batches without
        updates until a check of G as it is has entered (at most two). Returns their reports."""
        reports: list[BatchReport] = []
        while len(reports) < 2 and (self._keeper.pending or self.settle_due):
            reports.append(self.apply(UpdateBatch.empty()))
        return reports

    def close(self) -> None:
        """Wait for a background check still running and drop it (its result would enter a
        later batch)."""
        self._keeper.close()

    def removal_batch(self) -> UpdateBatch:
        """A batch deleting every edge of G (how a graph is dropped: its delta empties H)."""
        u, v, _ = self.graph_edges()
        n = u.shape[0]
        return UpdateBatch(np.full(n, Op.DELETE, np.int8), u, v, np.full(n, np.nan))

    def clear(self) -> None:
        """Forget every node and edge (a dropped graph): the engine is as new, except that
        its batch numbers go on."""
        number = self.batch_number
        self.close()
        self.__init__(self.config, self.graph_id)  # type: ignore[misc]
        self.batch_number = number

    def _delta(
        self,
        repaired: Edges,
        critical: Edges,
        removed: tuple[NDArray[np.int64], NDArray[np.int64]],
        reweighted: Edges,
        recovered: Edges,
        pruned: tuple[NDArray[np.int64], NDArray[np.int64]],
    ) -> Delta:
        ext = self._ids.external

        def out(
            lo: NDArray[np.int64], hi: NDArray[np.int64]
        ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
            u, v = ext[lo], ext[hi]
            return np.minimum(u, v), np.maximum(u, v)

        au, av = out(
            np.concatenate([repaired[0], critical[0], recovered[0]]),
            np.concatenate([repaired[1], critical[1], recovered[1]]),
        )
        ru, rv = out(
            np.concatenate([removed[0], pruned[0]]), np.concatenate([removed[1], pruned[1]])
        )
        wu, wv = out(reweighted[0], reweighted[1])
        cu, cv = out(recovered[0], recovered[1])
        pu, pv = out(*pruned)
        aw = np.concatenate([repaired[2], critical[2], recovered[2]])
        return Delta(au, av, aw, ru, rv, wu, wv, reweighted[2], cu, cv, pu, pv)

    # --------------------------------------------------------------------------- recovery
    def replay(self, batch: UpdateBatch, delta: Delta) -> None:
        """Re-apply a batch whose delta was already decided (recovery): G from the updates,
        H from the delta, no walks. Raises EngineError when they do not fit together."""
        net = self._prepare(batch)
        ext = self._ids.external
        removed = net.kind == REMOVED
        gone = removed & net.in_h
        left_g = ext[net.lo[gone]], ext[net.hi[gone]]
        both = (
            np.concatenate([left_g[0], delta.pruned_u]),
            np.concatenate([left_g[1], delta.pruned_v]),
        )
        if not _same_pairs(*both, delta.removed_u, delta.removed_v):
            raise EngineError(
                f"batch {self.batch_number}: the delta's removals do not match the updates"
            )
        remove_edges(self._store.arrays, net.lo[removed], net.hi[removed])
        rew = net.kind == REWEIGHTED
        reweight(self._store.arrays, net.lo[rew], net.hi[rew], net.w_new[rew])
        new = net.kind == NEW
        self._resume(
            lambda i: add_to_g(self._store.arrays, net.lo[new], net.hi[new], net.w_new[new], i),
            int(new.sum()),
        )
        cut = self._internal_pairs(delta.pruned_u, delta.pruned_v)
        plo, phi = np.ascontiguousarray(cut[:, 0]), np.ascontiguousarray(cut[:, 1])
        if (cut < 0).any() or not self._store.in_h(plo, phi).all():
            raise EngineError(f"batch {self.batch_number}: the delta prunes edges H lacks")
        prune_from_h(self._store.arrays, plo, phi)
        ends = self._internal_pairs(delta.added_u, delta.added_v)
        lo, hi = np.ascontiguousarray(ends[:, 0]), np.ascontiguousarray(ends[:, 1])
        if (ends < 0).any() or not self._store.outside_h(lo, hi).all():
            raise EngineError(f"batch {self.batch_number}: the delta adds edges G lacks or H has")
        self._resume(
            lambda i: add_to_h(self._store.arrays, self._comp, lo, hi, delta.added_w, i),
            lo.shape[0],
        )
        self._comp = components_of(self._store)
        self._store.arrays.meta[GENERATION] += 1  # array backends re-read all of H
        self.batch_number += 1

    def _internal_pairs(self, u: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
        """External pairs as internal (lo, hi) rows (-1 where an id is unknown)."""
        ends = self._ids.lookup(np.stack([u, v], axis=1).ravel()).reshape(-1, 2)
        return np.sort(ends, axis=1)

    # --------------------------------------------------------------------------- snapshots
    def snapshot(self) -> bytes:
        """The whole engine state as self-checking bytes (see :mod:`sparsiflow.engine.snapshot`)."""
        g, h = self._store.lists()
        state = snapshot.EngineState(
            self.config,
            self.graph_id,
            self.batch_number,
            self._store.nodes,
            self._ids.external,
            g,
            h,
        )
        return snapshot.dumps(state)

    @classmethod
    def restore(cls, data: bytes, config: EngineConfig | None = None) -> Engine:
        """An engine equal to the one that wrote ``data`` (SnapshotError when it is damaged),
        with ``config`` instead of the saved one when given (new settings apply from now on)."""
        state = snapshot.loads(data)
        engine = cls(config or state.config, state.graph_id)
        engine._ids.add(state.ids)
        engine._set_state(GraphStore.from_lists(state.nodes, state.graph, state.sparsifier))
        engine.batch_number = state.batch_number
        return engine

    # ------------------------------------------------------------------------------ views
    def stats(self) -> GraphStats:
        """Sizes of G and H and the component count."""
        return GraphStats(len(self._ids), self._store.edges, self._store.h_edges, self._comp.number)

    def graph_edges(self) -> Edges:
        """(u, v, w) of every edge of G, external ids, u < v, sorted by (u, v)."""
        return self._export(only_h=False)

    def sparsifier_edges(self) -> Edges:
        """(u, v, w) of every edge of H, external ids, u < v, sorted by (u, v)."""
        return self._export(only_h=True)

    def _export(self, only_h: bool) -> Edges:
        lo, hi, w = self._store.edges_of(only_h)
        ext = self._ids.external
        u, v = np.minimum(ext[lo], ext[hi]), np.maximum(ext[lo], ext[hi])
        order = np.lexsort((v, u))
        return u[order], v[order], w[order]

    @property
    def nbytes(self) -> int:
        """Bytes of engine state: graph store, id map, components and search workspace."""
        comp = sum(a.nbytes for a in self._comp)
        search = sum(a.nbytes for ws in (self._ws, *self._spare) for a in ws)
        return self._store.nbytes + self._ids.nbytes + comp + search


def warm_up(config: EngineConfig) -> float:
    """Load (or compile) every kernel a stream needs by running tiny graphs through it, so a
    worker's first real batch is not slowed by it: a bulk build, insertions, deletions with
    repairs, a snapshot round trip and the recovery replay of those batches, with dense node
    ids and with sparse ones (the id map's hash table), a kappa check's recovery picks and the
    weights a thinning check's entry looks up.
    Returns the seconds it took."""
    start = time.perf_counter()
    ring = np.arange(64, dtype=np.int64)
    for ids in (ring, ring << 40):
        engine = Engine(config, graph_id="warm-up")
        batches = [
            UpdateBatch.inserts(ids, np.roll(ids, -1), np.ones(64)),
            UpdateBatch.inserts(ids[::3], np.roll(ids, -7)[::3], np.full(22, 2.0)),
        ]
        reports = [engine.apply(batch) for batch in batches]
        engine.close()
        engine = Engine.restore(engine.snapshot())
        u, v, _ = engine.sparsifier_edges()
        batches.append(UpdateBatch.build(np.full(4, Op.DELETE), u[:4], v[:4]))
        reports.append(engine.apply(batches[-1]))
        engine.close()
        twin = Engine(config, graph_id="warm-up")
        for batch, report in zip(batches, reports, strict=True):
            twin.replay(batch, report.delta)
        pair = np.zeros(1, np.int64), np.ones(1, np.int64)
        twin._store.weights(*pair)  # what a thinning check's entry looks up
        twin.close()
    # no tiny graph needs a recovery, whose picks have a kernel of their own
    square = EdgeList(4, np.array([0, 0, 1, 2]), np.array([1, 3, 2, 3]), np.ones(4))
    pick_recoveries(square, np.arange(4) == 1, np.eye(1, 4), np.ones(1), 1)
    return time.perf_counter() - start


def _bridging(
    n: int,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    in_h: NDArray[np.bool_],
    going: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """The ``going`` rows that join two components of H (the ``in_h`` rows, with the edges
    entering with them) without them: keeping these keeps H's components."""
    rest = in_h & ~going
    labels = components(EdgeList(n, lo[rest], hi[rest], np.ones(int(rest.sum()))))[1]
    across: NDArray[np.bool_] = going & (labels[lo] != labels[hi])
    return across


def _joined(a: Edges, b: Edges) -> Edges:
    """Two edge groups as one."""
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]])


def _same_pairs(
    u1: NDArray[np.int64], v1: NDArray[np.int64], u2: NDArray[np.int64], v2: NDArray[np.int64]
) -> bool:
    """Whether two lists of undirected pairs hold the same pairs (any order, any orientation)."""
    a = np.sort(np.stack([np.minimum(u1, v1), np.maximum(u1, v1)], axis=1).view("i8,i8").ravel())
    b = np.sort(np.stack([np.minimum(u2, v2), np.maximum(u2, v2)], axis=1).view("i8,i8").ravel())
    return bool(np.array_equal(a, b))
