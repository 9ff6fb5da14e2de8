"""A graph's sparsifier H held in memory and kept live: the library for downstream consumers.

:class:`SparsifierClient` loads the newest H of a graph from the compacted current-H topic
(default ``sparsiflow.sparsifier-edges``; its contract ``schemas/sparsifier-edge.v1.json``),
then follows the graph's deltas after the position found there, so a new consumer never replays
the whole delta history; without that topic it follows the deltas from the start.

The rules of the deltas topic, applied by :class:`SparsifierState`: deltas of a graph apply in
batch order (remove ``removed``, set the weights of ``reweighted``, add ``added``); a repeated
(graph, batch) is skipped when identical and an error when not; a gap in the batch numbers is an
error (a delta is missing). The same works on the ``deltas.jsonl`` of ``sparsiflow replay``.

    client = SparsifierClient({"bootstrap.servers": "host:9092"}, "g1")
    client.load()                                  # H as of the compacted topic
    for event in client.follow(until_idle=None):   # then live, one applied delta at a time
        u, v, w = client.state.sparsifier.columns()
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.wire.deltas import DeltaEvent, DeltaLogError, SourceRange, decode_delta
from sparsiflow.connector.wire.edges import EdgeRecord, Position, decode_edge_record, is_graph_key
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.results import Delta

__all__ = [
    "DEFAULT_DELTAS_TOPIC",
    "DEFAULT_EDGES_TOPIC",
    "EdgeMap",
    "SparsifierClient",
    "SparsifierState",
]

DEFAULT_DELTAS_TOPIC = "sparsiflow.sparsifier-deltas"
DEFAULT_EDGES_TOPIC = "sparsiflow.sparsifier-edges"

Edge = tuple[int, int]


@dataclass
class EdgeMap:
    """A weighted undirected edge set keyed by ``(min(u, v), max(u, v))``."""

    edges: dict[Edge, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.edges)

    def apply_updates(self, batch: UpdateBatch) -> None:
        """G's semantics: insert sets the weight, delete removes, reweight changes a present
        edge (of an absent one: ignored, as the engine counts it as unknown)."""
        for op, u, v, w in zip(
            batch.ops.tolist(), batch.u.tolist(), batch.v.tolist(), batch.w.tolist(), strict=True
        ):
            key = (u, v) if u < v else (v, u)
            if op == Op.INSERT or (op == Op.REWEIGHT and key in self.edges):
                self.edges[key] = w
            elif op == Op.DELETE:
                self.edges.pop(key, None)

    def apply_delta(self, delta: Delta) -> None:
        """Apply one delta to this H."""
        for u, v in zip(delta.removed_u.tolist(), delta.removed_v.tolist(), strict=True):
            self.edges.pop((u, v), None)
        for columns in (
            (delta.reweighted_u, delta.reweighted_v, delta.reweighted_w),
            (delta.added_u, delta.added_v, delta.added_w),
        ):
            for u, v, w in zip(*(c.tolist() for c in columns), strict=True):
                self.edges[(u, v)] = w

    def columns(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """(u, v, w) sorted by (u, v)."""
        if not self.edges:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        keys = sorted(self.edges)
        u, v = (np.array(c, dtype=np.int64) for c in zip(*keys, strict=True))
        return u, v, np.array([self.edges[k] for k in keys])

    def edge_list(self, n: int | None = None) -> EdgeList:
        """As an :class:`EdgeList` on nodes ``0..n-1`` (default: largest id + 1)."""
        u, v, w = self.columns()
        return EdgeList.normalize(u, v, w, n=n)


@dataclass
class SparsifierState:
    """One graph's H and how far it is: ``batches`` is the next batch number expected."""

    graph: str
    sparsifier: EdgeMap = field(default_factory=EdgeMap)
    batches: int = 0
    duplicates: int = 0
    sources: list[SourceRange] = field(default_factory=list)
    position: Position | None = None
    _seen: dict[int, bytes] = field(default_factory=dict, repr=False)

    def add_delta(self, event: DeltaEvent) -> bool:
        """Apply the next delta event of this graph; False for a repeat (identical when its
        first copy was seen here; an earlier batch loaded from the current-H topic cannot be
        compared and is taken as a repeat)."""
        batch = event.batch
        if batch < self.batches:
            if self._seen.get(batch, event.content) != event.content:
                raise DeltaLogError(f"graph {self.graph!r}: batch {batch} repeated with changes")
            self.duplicates += 1
            return False
        if batch != self.batches:
            raise DeltaLogError(
                f"graph {self.graph!r}: batch {batch} follows {self.batches - 1}: "
                f"{batch - self.batches} delta(s) missing"
            )
        self.sparsifier.apply_delta(event.delta)
        self._seen[batch] = event.content
        self.sources.append(event.source)
        self.batches += 1
        return True

    def add_record(self, record: EdgeRecord | Position) -> None:
        """Apply a record of the current-H topic (in topic order)."""
        if isinstance(record, Position):
            self.position = record
            self.batches = record.batch + 1
        elif record.w is None:
            self.sparsifier.edges.pop((record.u, record.v), None)
        else:
            self.sparsifier.edges[(record.u, record.v)] = record.w

    def matrix(self) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
        """H as a symmetric SciPy CSR matrix of weights on its nodes, and the external id of
        each row (sorted)."""
        u, v, w = self.sparsifier.columns()
        ids = np.unique(np.concatenate([u, v]))
        a, b = np.searchsorted(ids, u), np.searchsorted(ids, v)
        n = ids.shape[0]
        matrix = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
        return matrix.tocsr(), ids


class SparsifierClient:
    """Keeps ``state`` (a graph's H) up to date from the output topics of a worker.

    ``config``: librdkafka settings (at least ``bootstrap.servers``); ``edges_topic`` None:
    no current-H topic (follow the deltas from the start)."""

    def __init__(
        self,
        config: dict[str, Any],
        graph: str,
        deltas_topic: str = DEFAULT_DELTAS_TOPIC,
        edges_topic: str | None = DEFAULT_EDGES_TOPIC,
        state: SparsifierState | None = None,
    ) -> None:
        self.config = config
        self.deltas_topic = deltas_topic
        self.edges_topic = edges_topic
        self.state = state or SparsifierState(graph)
        self._next: dict[int, int] = {}  # deltas partition -> next offset to read

    def load(self) -> int:
        """Read the graph's records of the current-H topic to its end; returns the next batch
        number to follow from (0 when the topic holds no position of the graph)."""
        if self.edges_topic is None:
            raise ValueError("this client has no current-H topic to load from")
        graph = self.state.graph
        for msg in read_topic(self.config, self.edges_topic):
            if is_graph_key(msg.key(), graph):
                self.state.add_record(decode_edge_record(msg.key(), msg.value()))
        return self.state.batches

    def follow(self, until_idle: float | None = None) -> Iterator[DeltaEvent]:
        """Apply the graph's deltas after the loaded position (every delta without one; after
        the last one read, when called again), and yield each applied one; stops at the end of
        the topic as seen when it starts, or with ``until_idle``, once no record came for that
        many seconds after it."""
        position = self.state.position
        start = self._next or None
        if start is None and position is not None:
            start = {position.delta_partition: position.delta_offset + 1}
        key = self.state.graph.encode()
        for msg in read_topic(self.config, self.deltas_topic, until_idle, start=start):
            self._next[int(msg.partition())] = int(msg.offset()) + 1
            if msg.key() == key:
                event = decode_delta(msg.value())
                if self.state.add_delta(event):
                    yield event
