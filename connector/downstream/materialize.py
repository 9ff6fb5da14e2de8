"""Rebuild a graph's sparsifier H from the deltas topic (and G from the input topic): the
reference implementation for downstream consumers of ``sparsiflow.sparsifier-deltas``.

Deltas of a graph are applied in batch order: remove ``removed``, set the weights of
``reweighted``, add ``added``. A repeated (graph, batch) is skipped when identical and an error
when not; a gap in the batch numbers is an error (a delta is missing). The same works on the
``deltas.jsonl`` of ``sparsiflow replay`` (one delta event per line).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsiflow.connector.kafka.log_reader import high_watermark
from sparsiflow.connector.wire.deltas import DeltaEvent, DeltaLogError, SourceRange, decode_delta
from sparsiflow.connector.wire.edge_updates import Decoded, decode
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.results import Delta

__all__ = ["EdgeMap", "Materialized", "materialize", "read_topic"]

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
class Materialized:
    """A graph's H rebuilt from its deltas, and G from its input records when asked."""

    graph: str
    sparsifier: EdgeMap = field(default_factory=EdgeMap)
    batches: int = 0
    duplicates: int = 0
    sources: list[SourceRange] = field(default_factory=list)
    input: EdgeMap | None = None
    input_records: int = 0
    _seen: dict[int, bytes] = field(default_factory=dict, repr=False)

    def add_delta(self, event: DeltaEvent) -> None:
        """Apply the next delta event of this graph, skipping an identical repeat."""
        batch = event.batch
        if batch < self.batches:
            if self._seen[batch] != event.content:
                raise DeltaLogError(f"graph {self.graph!r}: batch {batch} repeated with changes")
            self.duplicates += 1
            return
        if batch != self.batches:
            raise DeltaLogError(
                f"graph {self.graph!r}: batch {batch} follows {self.batches - 1}: "
                f"{batch - self.batches} delta(s) missing"
            )
        self.sparsifier.apply_delta(event.delta)
        self._seen[batch] = event.content
        self.sources.append(event.source)
        self.batches += 1

    def node_count(self) -> int:
        """Largest node id seen in G (or H) + 1: the Matrix Market dimension of both."""
        ids = [self.sparsifier.columns()[:2]]
        if self.input is not None:
            ids.append(self.input.columns()[:2])
        top = max((int(a.max(initial=-1)) for pair in ids for a in pair), default=-1)
        return top + 1


def read_topic(
    config: dict[str, Any], topic: str, until_idle: float | None = None, poll: float = 0.2
) -> Iterator[Any]:
    """Every record of ``topic`` from the beginning, partition by partition in order.

    Stops at the end offsets seen when it starts, or, with ``until_idle``, once no record came
    for that many seconds after reaching them. No consumer-group offsets are committed.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            **config,
            "group.id": f"sparsiflow-materialize-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        if meta.error is not None:
            raise RuntimeError(f"topic {topic!r}: {meta.error}")
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        ends = {tp.partition: high_watermark(consumer, topic, tp.partition, 30.0) for tp in parts}
        consumer.assign(parts)
        pending = {p for p, end in ends.items() if end > 0}
        last = time.monotonic()
        while pending or (until_idle is not None and time.monotonic() - last < until_idle):
            msg = consumer.poll(poll)
            if msg is None:
                continue
            error, partition = msg.error(), int(msg.partition() or 0)
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"reading {topic!r}: {error}")
                pending.discard(partition)
                continue
            last = time.monotonic()
            if int(msg.offset() or 0) >= ends[partition] - 1:
                pending.discard(partition)
            yield msg
    finally:
        consumer.close()


def materialize(
    config: dict[str, Any],
    deltas_topic: str,
    graph: str,
    *,
    input_topic: str | None = None,
    until_idle: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Materialized:
    """H of ``graph`` from ``deltas_topic`` (and G from ``input_topic`` when given)."""
    out = Materialized(graph)
    key = graph.encode()
    for msg in read_topic(config, deltas_topic, until_idle):
        if msg.key() == key:
            out.add_delta(decode_delta(msg.value()))
    if progress is not None:
        progress(f"{out.batches} deltas: H has {len(out.sparsifier)} edges")
    if input_topic is not None:
        out.input = EdgeMap()
        owner: int | None = None
        for msg in read_topic(config, input_topic, until_idle):
            decoded = decode(msg.value()) if msg.key() == key else None
            if not isinstance(decoded, Decoded) or decoded.graph != graph:
                continue
            owner = msg.partition() if owner is None else owner
            if msg.partition() == owner:  # the worker's rule: a graph lives on one partition
                out.input.apply_updates(decoded.updates)
                out.input_records += 1
        if progress is not None:
            progress(f"{out.input_records} input records: G has {len(out.input)} edges")
    return out
