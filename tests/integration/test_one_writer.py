"""One writer per graph on the real broker: a graph belongs to the input partition its id hashes
to (Kafka's murmur2 by default), the same in every worker. librdkafka's partitioners put keys
where :mod:`sparsiflow.connector.stream.ownership` says; with two workers in one group, records
of a graph sent to the wrong partition go to the DLQ as ``wrong_partition``, the graph's delta
log has one writer, and materialize's G is exactly the accepted updates."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Producer
from reliability_support import read_delta_log

from sparsiflow.connector.downstream.materialize import EdgeMap, materialize
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.stream.ownership import Partitioner, key_partition
from sparsiflow.connector.wire.dead_letters import read_dlq_headers
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.engine.graph.updates import UpdateBatch

KINDS = ("input", "deltas", "metrics", "dlq", "edges")
READY = re.compile(rb"ready: group \S+, input \S+ partitions? ([0-9, ]+);")


def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None, int | None]],
             partitioner: str = "murmur2_random") -> list[tuple[int, int]]:  # fmt: skip
    """Produce (key, value, partition or None: the partitioner's choice) in order; the
    (partition, offset) each record got."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": partitioner, "enable.idempotence": True}
    )
    placed: list[tuple[int, int]] = [(-1, -1)] * len(items)
    for i, (key, value, partition) in enumerate(items):

        def done(err: Any, msg: Any, i: int = i) -> None:
            assert err is None, err
            placed[i] = (msg.partition(), msg.offset())

        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, value, key, on_delivery=done, **extra)
        producer.poll(0)
    assert producer.flush(60) == 0
    return placed


@pytest.mark.parametrize(
    ("librdkafka", "ours"), [("murmur2_random", "murmur2"), ("consistent_random", "crc32")]
)
def test_librdkafka_partitioners_place_keys_where_ownership_says(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    librdkafka: str,
    ours: Partitioner,
) -> None:
    partitions = 7
    topic = create_topic(unique_name("keys"), partitions=partitions)
    keys = [f"graph-{i}".encode() for i in range(200)] + [b"21", b"foobar", b"g.0", b"g.1"]
    placed = _produce(kafka_bootstrap, topic, [(k, b"x", None) for k in keys], librdkafka)
    expected = [key_partition(k, partitions, ours) for k in keys]
    assert [p for p, _ in placed] == expected
    assert len(set(expected)) == partitions  # the check spans every partition


def _insert(graph: str, u: int, v: int) -> bytes:
    return orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": 1.0 + u % 3})


@pytest.mark.slow
def test_two_workers_accept_a_graph_only_on_its_own_partition(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = {kind: unique_name(kind) for kind in KINDS}
    create_topic(topics["input"], partitions=2)
    group = unique_name("group")
    split = next(f"split{i}" for i in range(100) if key_partition(f"split{i}".encode(), 2) == 0)
    others = [f"keyed{i}" for i in range(4)]
    assert {key_partition(g.encode(), 2) for g in others} == {0, 1}  # both workers have work

    workers = []
    for name in ("a", "b"):
        env = worker_env(
            kafka_bootstrap, topics, group, state_dir=str(tmp_path / f"state-{name}"),
            batch_max_size="8", batch_max_wait="0.2", session_timeout="6", topic_partitions="2",
        )  # fmt: skip
        workers.append(WorkerProcess(env, tmp_path / f"worker-{name}.log").start())
    try:

        def shared() -> bool:  # each worker logged a ready line holding one partition
            held = [READY.findall(w.log.read_bytes()) if w.log.exists() else [] for w in workers]
            return all(h and h[-1].strip() in (b"0", b"1") for h in held)

        workers[0].wait_until(shared, 120, "both workers holding one partition each")

        # the split graph: its records on both partitions (explicit), interleaved; normal keyed
        # traffic through the murmur2 partitioner
        items: list[tuple[bytes, bytes | None, int | None]] = []
        accepted = EdgeMap()
        for i in range(40):
            items.append((split.encode(), _insert(split, i, i + 1), 0))
            accepted.apply_updates(
                UpdateBatch.inserts(np.array([i]), np.array([i + 1]), np.array([1.0 + i % 3]))
            )
            if i % 2 == 0:
                items.append((split.encode(), _insert(split, 1000 + i, 1001 + i), 1))
            for g in others:
                items.append((g.encode(), _insert(g, i, i + 1), None))
        items.append((split.encode(), None, 1))  # a tombstone on the wrong partition
        placed = _produce(kafka_bootstrap, topics["input"], items)
        off = [(p, o) for (k, _, want), (p, o) in zip(items, placed, strict=True)
               if k == split.encode() and want == 1]  # fmt: skip
        assert len(off) == 21
        last = max(o for (k, _, _), (p, o) in zip(items, placed, strict=True) if k == split.encode()
                   and p == 0)  # fmt: skip

        def done() -> bool:
            reached = read_delta_log(kafka_bootstrap, topics["deltas"]).last_offset
            dlq = list(read_topic({"bootstrap.servers": kafka_bootstrap}, topics["dlq"]))
            return reached.get(split, -1) >= last and len(dlq) >= len(off)

        workers[0].wait_until(done, 120, "the split graph's deltas and dead letters")
        for worker in workers:
            assert worker.stop() == 0, worker.diagnosis()
    finally:
        for worker in workers:
            if worker.alive:
                worker.kill()

    conf = {"bootstrap.servers": kafka_bootstrap}
    dlq = list(read_topic(conf, topics["dlq"]))
    headers = [read_dlq_headers(m.headers()) for m in dlq]
    assert [h["sparsiflow.reason"] for h in headers] == ["wrong_partition"] * len(off)
    sources = [(int(h["sparsiflow.source_partition"]), int(h["sparsiflow.source_offset"]))
               for h in headers]  # fmt: skip
    assert sorted(sources) == sorted(off)
    assert all(m.key() == split.encode() for m in dlq)
    assert "belongs to input partition 0" in headers[0]["sparsiflow.message"]

    log = read_delta_log(kafka_bootstrap, topics["deltas"])
    assert log.conflicts == 0
    assert {g for g, _ in log.contents} >= {split, *others}
    batches = sorted(b for g, b in log.contents if g == split)
    assert batches == list(range(len(batches)))  # one linear log
    written = {
        (event.graph, event.source.partition)
        for event in (decode_delta(m.value()) for m in read_topic(conf, topics["deltas"]))
    }
    assert written == {(g, key_partition(g.encode(), 2)) for g in [split, *others]}  # one writer

    state = materialize(conf, topics["deltas"], split, input_topic=topics["input"])
    assert state.input is not None and state.input.edges == accepted.edges
    assert state.input_records == 40
    assert set(state.sparsifier.edges) <= set(accepted.edges)
