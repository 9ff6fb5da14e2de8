"""Helpers of the reliability tests (crash, rebalance, poison): graph update streams in
batch-form records, a background producer, the deltas topic read back, the worker's final state
from its checkpoints, and the invariants every run must end with.

Test helper (importable from every test: ``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer

from sparsiflow.connector.downstream.materialize import EdgeMap, materialize
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.observability.kappa import dense_pair
from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.connector.wire.edge_updates import encode_records
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import grid_circuit, power_law
from sparsiflow.workloads.streams import update_stream

__all__ = [
    "DeltaLog",
    "Feeder",
    "Stream",
    "check_final_state",
    "final_engines",
    "interleave",
    "make_stream",
    "read_delta_log",
]

Item = tuple[bytes, bytes, int]  # key, value, partition


@dataclass
class Stream:
    """One graph's updates as input records on one partition, and the G they imply."""

    graph: str
    partition: int
    updates: UpdateBatch
    values: list[bytes]
    expected: EdgeMap


def make_stream(
    graph: str, partition: int, full: EdgeList, seed: int, per_record: int, huge: int = 0
) -> Stream:
    """The dyGRASS protocol on ``full`` (base graph inserted, then 25 % insertions and 5 %
    deletions) in batch-form records of ``per_record`` updates; every 40th record holds
    ``huge`` updates instead (when given), more than one engine batch takes."""
    s = update_stream(full, 0.25, 0.05, seed=seed)
    updates = UpdateBatch.concat([UpdateBatch.inserts(s.base.u, s.base.v, s.base.w), s.batch()])
    values: list[bytes] = []
    start, k = 0, 0
    while start < len(updates):
        size = huge if huge and k % 40 == 39 else per_record
        part = updates.slice(start, start + size)
        values += [v for v, _ in encode_records(graph, part, "batch", size)]
        start, k = start + size, k + 1
    expected = EdgeMap()
    expected.apply_updates(updates)
    return Stream(graph, partition, updates, values, expected)


def interleave(streams: list[Stream], extra: list[Item] | None = None, seed: int = 0) -> list[Item]:
    """All streams' records in one random interleaving that keeps each graph's order; ``extra``
    items are spread at random positions."""
    rng = np.random.default_rng(seed)
    queues = [[(s.graph.encode(), v, s.partition) for v in s.values] for s in streams]
    owners = np.concatenate([np.full(len(q), i) for i, q in enumerate(queues)])
    rng.shuffle(owners)
    heads = [0] * len(queues)
    items: list[Item] = []
    for i in owners.tolist():
        items.append(queues[i][heads[i]])
        heads[i] += 1
    for item in extra or []:
        items.insert(int(rng.integers(0, len(items) + 1)), item)
    return items


@dataclass(eq=False)
class Feeder(threading.Thread):
    """Produces ``items`` in order, ``rate`` records per second, in a background thread;
    ``offsets`` holds each item's offset once delivered."""

    bootstrap: str
    topic: str
    items: list[Item]
    rate: float
    offsets: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)
        self.offsets = [-1] * len(self.items)

    @property
    def last(self) -> dict[int, int]:
        """The last offset delivered per partition."""
        last: dict[int, int] = {}
        for (_, _, partition), offset in zip(self.items, self.offsets, strict=True):
            last[partition] = max(last.get(partition, -1), offset)
        return last

    def run(self) -> None:
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "message.max.bytes": 16 * 2**20,
             "enable.idempotence": True, "linger.ms": 5, "partitioner": "murmur2_random"}
        )  # fmt: skip

        def done(err: Any, msg: Any, i: int) -> None:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.offsets[i] = msg.offset()

        started = time.monotonic()
        for i, (key, value, partition) in enumerate(self.items):
            producer.produce(
                self.topic, value, key, partition=partition,
                on_delivery=lambda err, msg, i=i: done(err, msg, i),
            )  # fmt: skip
            producer.poll(0)
            wait = started + i / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        if producer.flush(60) > 0:
            self.errors.append("records left undelivered")


@dataclass
class DeltaLog:
    """The deltas topic read back: contents per (graph, batch) and the covered offsets."""

    contents: dict[tuple[str, int], list[bytes]]
    last_offset: dict[str, int]
    covered: dict[str, set[int]]  # per graph the input offsets its deltas cover

    @property
    def repeats(self) -> int:
        """Deltas published more than once with identical content."""
        return sum(len(v) - 1 for v in self.contents.values())

    @property
    def conflicts(self) -> int:
        """(graph, batch) pairs published with different contents (must be 0)."""
        return sum(len(set(v)) > 1 for v in self.contents.values())


def send_keyed(bootstrap: str, topic: str, key: str, values: list[bytes]) -> int:
    """Produce ``values`` in order, keyed by ``key`` (a graph id); the last offset."""
    last: list[int] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
        }
    )
    for value in values:
        producer.produce(
            topic, value, key.encode(), on_delivery=lambda e, m: last.append(m.offset())
        )
    assert producer.flush(30) == 0
    return max(last)


def read_delta_log(bootstrap: str, topic: str) -> DeltaLog:
    contents: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    last: dict[str, int] = {}
    covered: dict[str, set[int]] = defaultdict(set)
    try:
        messages = list(read_topic({"bootstrap.servers": bootstrap}, topic))
    except RuntimeError:  # not created yet
        messages = []
    for msg in messages:
        event = decode_delta(msg.value())
        contents[(event.graph, event.batch)].append(event.content + repr(msg.headers()).encode())
        last[event.graph] = max(last.get(event.graph, -1), event.source.last_offset)
        covered[event.graph].update(range(event.source.first_offset, event.source.last_offset + 1))
    return DeltaLog(dict(contents), last, dict(covered))


def final_engines(state_dir: Path, topics: dict[str, str]) -> dict[str, Engine]:
    """The newest checkpoint of every graph in a worker's state folder, restored."""
    store = CheckpointStore(state_dir / "checkpoints" / topics["deltas"])
    engines: dict[str, Engine] = {}
    for folder in sorted(store.root.glob("p*")):
        partition = int(folder.name[1:])
        for graph in store.graphs(partition):
            newest = next(store.graph_checkpoints(partition, graph))
            engine = Engine.restore(newest.snapshot)
            if graph not in engines or engine.batch_number > engines[graph].batch_number:
                engines[graph] = engine
    return engines


def _edge_map(columns: tuple[Any, Any, Any]) -> EdgeMap:
    u, v, w = (c.tolist() for c in columns)
    return EdgeMap({(a, b): c for a, b, c in zip(u, v, w, strict=True)})


def check_final_state(
    bootstrap: str, topics: dict[str, str], streams: list[Stream], engines: dict[str, Engine]
) -> DeltaLog:
    """The invariants after a run: per graph, H replayed from the deltas equals the worker's
    final H exactly; H is a subgraph of G with G's weights and the same components; G holds
    every input update; no (graph, batch) published twice with different content."""
    log = read_delta_log(bootstrap, topics["deltas"])
    assert log.conflicts == 0, (
        "a (graph, batch) was published twice with different content: "
        + "; ".join(
            f"{key}: " + " | ".join(c.decode(errors="replace")[:300] for c in contents)
            for key, contents in log.contents.items()
            if len(set(contents)) > 1
        )
    )
    conf = {"bootstrap.servers": bootstrap}
    held = Counter(m.partition() for m in read_topic(conf, topics["input"]))
    for stream in streams:
        if held[stream.partition] == len(stream.values):  # the partition holds its records only
            lost = set(range(len(stream.values))) - log.covered.get(stream.graph, set())
            assert not lost, f"{stream.graph}: input offsets {sorted(lost)} are in no delta"
        state = materialize(conf, topics["deltas"], stream.graph, input_topic=topics["input"])
        engine = engines[stream.graph]
        assert state.input is not None and state.input.edges == stream.expected.edges
        g, h = _edge_map(engine.graph_edges()), _edge_map(engine.sparsifier_edges())
        assert g.edges == stream.expected.edges, f"{stream.graph}: G misses input updates"
        assert state.sparsifier.edges == h.edges, f"{stream.graph}: deltas do not rebuild H"
        assert state.batches == engine.batch_number
        assert h.edges.keys() <= g.edges.keys()
        assert all(g.edges[e] == w for e, w in h.edges.items())
        dense_g, dense_h = dense_pair(g.columns(), h.columns())
        assert components(dense_g)[0] == components(dense_h)[0]
        assert len(h) < len(g)
    return log


# --- two workers' worth of setup, shared by the reliability and fencing tests ----------------
KINDS = ("input", "deltas", "metrics", "dlq")
RECOVERED = re.compile(rb"recovered input partition (\d+): .* in ([0-9.]+)s")


def two_partition_topics(
    unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> dict[str, str]:
    """A worker's topic names; the input topic created with 2 partitions."""
    names = {kind: unique_name(kind) for kind in KINDS}
    create_topic(names["input"], partitions=2)
    return names


def reliability_env(
    bootstrap: str, topics: dict[str, str], group: str, state: Path, wait: str = "0.2"
) -> dict[str, str]:
    """A worker with small batches, frequent checkpoints and a 6 s session timeout."""
    return worker_env(
        bootstrap, topics, group,
        batch_max_size="2000", batch_max_wait=wait, state_dir=str(state),
        checkpoint_every_batches="4", checkpoint_keep="2", session_timeout="6",
        topic_partitions="2",
    )  # fmt: skip


def recoveries(worker: WorkerProcess, since: int = 0) -> list[tuple[int, float]]:
    """(partition, seconds) of each recovery logged after byte ``since`` of the log."""
    text = worker.log.read_bytes()[since:] if worker.log.exists() else b""
    return [(int(p), float(s)) for p, s in RECOVERED.findall(text)]


def covered(bootstrap: str, topics: dict[str, str], last: dict[int, int]) -> Callable[[], bool]:
    """Whether the deltas cover every partition's last input offset (graph ids end in
    ``.<partition>``)."""

    def check() -> bool:
        reached = read_delta_log(bootstrap, topics["deltas"]).last_offset
        by_partition = {int(g.rsplit(".", 1)[1]): o for g, o in reached.items()}
        return all(by_partition.get(p, -1) >= o for p, o in last.items())

    return check


def two_streams(scale: int, huge: int = 0) -> list[Stream]:
    """Two graphs, ``g1.0`` on input partition 0 and ``g.1`` on partition 1 (where their ids
    hash to)."""
    return [
        make_stream("g1.0", 0, grid_circuit(2 * scale, seed=3), 3, 500, huge),
        make_stream("g.1", 1, power_law(scale, seed=4), 4, 500, huge),
    ]
