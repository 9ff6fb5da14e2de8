"""Rebuild a graph's sparsifier H from the output topics (and G from the input topic): what
``sparsiflow materialize`` does, on the client library (:mod:`.client`) every downstream
consumer uses. G is rebuilt from the records the worker accepts: those on the partition the
graph's id hashes to under the producers' partitioner (``SPARSIFLOW_PARTITIONER``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparsiflow.connector.downstream.client import EdgeMap, SparsifierClient, SparsifierState
from sparsiflow.connector.kafka.topic_reader import MissingTopicError, read_topic, topic_partitions
from sparsiflow.connector.stream.ownership import Partitioner, key_partition
from sparsiflow.connector.wire.edge_updates import Decoded, decode

__all__ = ["EdgeMap", "Materialized", "materialize"]


@dataclass
class Materialized(SparsifierState):
    """A graph's H (see :class:`SparsifierState`), and G from its input records when asked."""

    input: EdgeMap | None = None
    input_records: int = 0

    def node_count(self) -> int:
        """Largest node id seen in G (or H) + 1: the Matrix Market dimension of both."""
        ids = [self.sparsifier.columns()[:2]]
        if self.input is not None:
            ids.append(self.input.columns()[:2])
        top = max((int(a.max(initial=-1)) for pair in ids for a in pair), default=-1)
        return top + 1


def materialize(
    config: dict[str, Any],
    deltas_topic: str,
    graph: str,
    *,
    input_topic: str | None = None,
    edges_topic: str | None = None,
    until_idle: float | None = None,
    progress: Callable[[str], None] | None = None,
    partitioner: Partitioner = "murmur2",
) -> Materialized:
    """H of ``graph`` from ``deltas_topic`` (loaded from the compacted ``edges_topic`` first
    when given and present, else every delta from the start), and G from ``input_topic`` when
    given: its records on the partition ``graph`` hashes to under ``partitioner``, the worker's
    rule (records elsewhere went to the DLQ as ``wrong_partition``)."""
    out = Materialized(graph)
    client = SparsifierClient(config, graph, deltas_topic, edges_topic, out)
    if edges_topic is not None:
        try:
            client.load()
        except MissingTopicError:
            if progress is not None:
                progress(f"no current-H topic {edges_topic!r}: reading every delta instead")
    for _ in client.follow(until_idle):
        pass
    if progress is not None:
        progress(f"{out.batches} deltas: H has {len(out.sparsifier)} edges")
    key = graph.encode()
    if input_topic is not None:
        out.input = EdgeMap()
        owner = key_partition(key, topic_partitions(config, input_topic), partitioner)
        for msg in read_topic(config, input_topic, until_idle, start={owner: -1}):
            if msg.key() != key or msg.partition() != owner:  # the worker's ownership rule
                continue
            dropped = msg.value() is None  # a tombstone: the worker dropped the graph here
            decoded = None if dropped else decode(msg.value())
            if not dropped and (not isinstance(decoded, Decoded) or decoded.graph != graph):
                continue
            if isinstance(decoded, Decoded):
                out.input.apply_updates(decoded.updates)
            else:
                out.input.edges.clear()
            out.input_records += 1
        if progress is not None:
            progress(f"{out.input_records} input records: G has {len(out.input)} edges")
    return out
