"""A slow, obviously-correct reference of the engine's semantics: the test oracle.

Plain Python dictionaries and lists, one unidirectional Dijkstra with ``heapq``, walks written
step by step, and its own implementation of the RNG specification. It mirrors
:class:`sparsiflow.engine.engine.Engine` decision for decision: same batch phases, same
adjacency-list order (append; swap-remove), same walk streams. With generic (e.g. random real)
weights the two must produce identical deltas; any difference is a bug in one of them.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
from dataclasses import dataclass, field

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.rules.insertion import G_REACH

__all__ = ["RefDelta", "ReferenceEngine"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_REPAIR_STREAM = 1 << 40

Edge = tuple[int, int]


def _mix(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _update_key(seed: int, graph: str, batch: int, index: int) -> int:
    gh = int.from_bytes(hashlib.blake2b(graph.encode(), digest_size=8).digest(), "little") >> 1
    base = _mix(_mix(seed ^ gh) + batch * _GOLDEN)
    return _mix(base + index * _GOLDEN)


def _rand(key: int, walker: int, step: int) -> int:
    return _mix(key ^ _mix((walker << 32 | step) + _GOLDEN))


def _below(r: int, m: int) -> int:
    return ((r >> 32) * m) >> 32


def _edge(a: int, b: int) -> Edge:
    return (a, b) if a < b else (b, a)


@dataclass
class RefDelta:
    added: list[tuple[int, int, float]] = field(default_factory=list)
    removed: list[Edge] = field(default_factory=list)
    reweighted: list[tuple[int, int, float]] = field(default_factory=list)


class _Adjacency:
    """Neighbour lists with the engine's order: append at the end, swap-remove."""

    def __init__(self) -> None:
        self.lists: dict[int, list[int]] = {}

    def add(self, a: int, b: int) -> None:
        self.lists.setdefault(a, []).append(b)
        self.lists.setdefault(b, []).append(a)

    def remove(self, a: int, b: int) -> None:
        for x, y in ((a, b), (b, a)):
            row = self.lists[x]
            i = row.index(y)
            row[i] = row[-1]
            row.pop()

    def of(self, x: int) -> list[int]:
        return self.lists.get(x, [])


class ReferenceEngine:
    """Same contract as Engine.apply, returning a RefDelta; state in ``weights`` / ``h``."""

    def __init__(self, config: EngineConfig, graph_id: str = "") -> None:
        self.config = config
        self.graph_id = graph_id
        self.batch_number = 0
        self.weights: dict[Edge, float] = {}
        self.h: set[Edge] = set()
        self.g_adj = _Adjacency()
        self.h_adj = _Adjacency()
        self.nodes: set[int] = set()

    def load(self, edges: list[tuple[int, int, float]], in_h: list[bool], nodes: list[int]) -> None:
        """Initial G (in this order) and H, as Engine.from_graph(..., sparsifier=...) takes it."""
        self.nodes.update(nodes)
        for (a, b, w), keep in zip(edges, in_h, strict=True):
            self.nodes.update((a, b))
            self.weights[_edge(a, b)] = w
            self.g_adj.add(a, b)
            if keep:
                self.h.add(_edge(a, b))
                self.h_adj.add(a, b)

    # ---------------------------------------------------------------------------- apply
    def apply(self, batch: UpdateBatch) -> RefDelta:
        cfg = self.config
        net = self._net_change(batch)
        keys = [_update_key(cfg.seed, self.graph_id, self.batch_number, i) for i in range(len(net))]
        delta = RefDelta()
        inside: list[tuple[Edge, int, bool]] = []
        for i, (edge, before, after) in enumerate(net):
            if before is not None and after is None:
                if edge in self.h:
                    inside.append((edge, keys[i] ^ _REPAIR_STREAM, False))
                else:
                    self._g_remove(edge)
            elif before is not None and after is not None and edge in self.h:
                lowered = after <= cfg.repair_lowered * before
                if lowered:
                    inside.append((edge, keys[i] ^ _REPAIR_STREAM, True))
        for edge, before, after in net:
            if before is not None and after is not None:
                self.weights[edge] = after
                if edge in self.h:
                    delta.reweighted.append((*edge, after))
        for edge, key, lowered in inside:
            weight = self.weights[edge]
            if not lowered:
                self.h.discard(edge)
                self.h_adj.remove(*edge)
                delta.removed.append(edge)
            self._g_remove(edge)
            self._repair(edge, key, delta)
            if lowered:
                self.weights[edge] = weight
                self.g_adj.add(*edge)
        candidates: list[tuple[Edge, float, int]] = []
        for i, (edge, before, after) in enumerate(net):
            if before is None and after is not None:
                self.weights[edge] = after
                self.g_adj.add(*edge)
                candidates.append((edge, after, keys[i]))
            elif before is not None and after is not None and edge not in self.h and after > before:
                candidates.append((edge, after, keys[i]))
        self._insert(candidates, delta)
        self.batch_number += 1
        return delta

    def _net_change(self, batch: UpdateBatch) -> list[tuple[Edge, float | None, float | None]]:
        state: dict[Edge, tuple[float | None, float | None]] = {}
        for op, u, v, w in zip(batch.ops, batch.u, batch.v, batch.w, strict=True):
            edge = _edge(int(u), int(v))
            if op == Op.INSERT:
                self.nodes.update(edge)
            if edge not in state:
                now = self.weights.get(edge)
                state[edge] = (now, now)
            before, cur = state[edge]
            if op == Op.INSERT:
                cur = float(w)
            elif op == Op.DELETE:
                cur = None
            elif cur is not None:
                cur = float(w)
            state[edge] = (before, cur)
        return [
            (e, b, a) for e, (b, a) in state.items() if b != a and not (b is None and a is None)
        ]

    def _g_remove(self, edge: Edge) -> None:
        del self.weights[edge]
        self.g_adj.remove(*edge)

    def _h_add(self, edge: Edge) -> None:
        self.h.add(edge)
        self.h_adj.add(*edge)

    # --------------------------------------------------------------------------- rules
    def _insert(self, candidates: list[tuple[Edge, float, int]], delta: RefDelta) -> None:
        cfg = self.config
        if cfg.mode == "default":
            for edge, w, _ in candidates:
                if edge in self.h:
                    continue
                bound = cfg.local_threshold * self._g_resistance(edge, w)
                if not self._low_resistance(edge, bound):
                    self._h_add(edge)
                    delta.added.append((*edge, w))
            return
        critical = [
            (edge, w)
            for edge, w, key in candidates
            if edge not in self.h and not self._walk_hits(edge, w, key)
        ]
        for edge, w in critical:
            self._h_add(edge)
            delta.added.append((*edge, w))

    def _cost_avoiding(self, blocked: set[Edge]):  # type: ignore[no-untyped-def]
        return lambda x, y: None if _edge(x, y) in blocked else 1.0 / self.weights[_edge(x, y)]

    def _g_resistance(self, edge: Edge, w: float) -> float:
        conductance = w
        blocked: set[Edge] = {edge}
        for j in range(1, self.config.parallel_paths):
            found = self._dijkstra(
                edge[0],
                edge[1],
                self._cost_avoiding(blocked),
                self.g_adj,
            )
            if found is None or found[0] >= G_REACH / w:
                break
            conductance += 1.0 / found[0]
            if j + 1 == self.config.parallel_paths:
                break
            blocked.update(_edge(x, y) for x, y in itertools.pairwise(found[1]))
        return 1.0 / conductance

    def _low_resistance(self, edge: Edge, bound: float) -> bool:
        paths = self.config.parallel_paths
        need, conductance = 1.0 / bound, 0.0
        blocked: set[Edge] = set()
        for j in range(paths):
            gap = need - conductance
            radius = paths * bound if gap <= 0 else min((paths - j) / gap, paths * bound)
            found = self._dijkstra(
                edge[0],
                edge[1],
                self._cost_avoiding(blocked),
                self.h_adj,
            )
            if found is None or found[0] >= radius:
                return False
            conductance += 1.0 / found[0]
            if conductance > need:
                return True
            blocked.update(_edge(x, y) for x, y in itertools.pairwise(found[1]))
        return False

    def _walk_hits(self, edge: Edge, w: float, key: int) -> bool:
        p, q = edge
        found = False
        for walker in range(self.config.walkers):
            cur, prev, resistance = p, -1, 0.0
            for t in range(self.config.max_steps):
                nxt = self._step(self.h_adj, cur, prev, _rand(key, walker, t))
                if nxt is None:
                    break
                resistance += 1.0 / self.weights[_edge(cur, nxt)]
                if w * resistance >= self.config.local_threshold:
                    break
                if nxt == q:
                    found = True
                    break
                prev, cur = cur, nxt
        return found

    @staticmethod
    def _step(adj: _Adjacency, cur: int, prev: int, r: int) -> int | None:
        row = adj.of(cur)
        if prev < 0:
            return row[_below(r, len(row))] if row else None
        if len(row) <= 1:
            return None
        nxt = row[_below(r, len(row) - 1)]
        return row[-1] if nxt == prev else nxt

    def _repair(self, edge: Edge, key: int, delta: RefDelta) -> None:
        p, q = edge
        path: list[int] | None = None
        if self.config.mode == "dygrass":
            path = self._best_walk(p, q, key)
        if path is None:
            discount = self.config.repair_discount

            def cost(x: int, y: int) -> float:
                e = _edge(x, y)
                return (discount if e in self.h else 1.0) / self.weights[e]

            found = self._dijkstra(p, q, cost, self.g_adj)
            if found is None:
                return
            path = found[1]
        for x, y in itertools.pairwise(path):
            e = _edge(x, y)
            if e not in self.h:
                self._h_add(e)
                delta.added.append((*e, self.weights[e]))

    def _best_walk(self, p: int, q: int, key: int) -> list[int] | None:
        best: list[int] | None = None
        best_r = math.inf
        for walker in range(self.config.walkers):
            cur, prev, resistance, nodes = p, -1, 0.0, [p]
            for t in range(self.config.max_steps):
                nxt = self._step(self.g_adj, cur, prev, _rand(key, walker, t))
                if nxt is None:
                    break
                resistance += 1.0 / self.weights[_edge(cur, nxt)]
                nodes.append(nxt)
                if nxt == q:
                    if resistance < best_r:
                        best, best_r = nodes, resistance
                    break
                prev, cur = cur, nxt
        return best

    @staticmethod
    def _dijkstra(p: int, q: int, cost, adj: _Adjacency) -> tuple[float, list[int]] | None:  # type: ignore[no-untyped-def]
        dist = {p: 0.0}
        pred: dict[int, int] = {}
        heap = [(0.0, p)]
        done: set[int] = set()
        while heap:
            d, x = heapq.heappop(heap)
            if x in done:
                continue
            done.add(x)
            if x == q:
                path = [q]
                while path[-1] != p:
                    path.append(pred[path[-1]])
                return d, path[::-1]
            for y in adj.of(x):
                c = cost(x, y)
                if c is None or y in done:
                    continue
                if d + c < dist.get(y, math.inf):
                    dist[y] = d + c
                    pred[y] = x
                    heapq.heappush(heap, (d + c, y))
        return None

    # --------------------------------------------------------------------------- views
    def sparsifier(self) -> dict[Edge, float]:
        return {e: self.weights[e] for e in self.h}
