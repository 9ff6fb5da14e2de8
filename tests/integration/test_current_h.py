"""The compacted current-H topic and the client library on the real broker: a new consumer loads
H from the topic after a log compaction has run, then follows the deltas; one started mid-stream
ends equal too; both hold the worker's final H edge for edge and weight for weight. And bounded
retention: with the deltas before the checkpoints deleted, a restart still recovers; a restart
without the checkpoints stops with a one-line reason."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from reliability_support import Stream, final_engines, make_stream, read_delta_log, send_keyed

from sparsiflow.connector.downstream.client import SparsifierClient
from sparsiflow.connector.downstream.materialize import materialize
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.workloads.families import grid_circuit

GRAPH = "g1"
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.001",
    "delete.retention.ms": "100",
    "min.compaction.lag.ms": "0",
}


def _setup(
    bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> tuple[dict[str, str], dict[str, str], Stream]:
    topics = {kind: unique_name(kind) for kind in ("input", "deltas", "metrics", "dlq", "edges")}
    create_topic(topics["input"])
    create_topic(topics["edges"], config=COMPACTED)
    env = worker_env(
        bootstrap, topics, unique_name("group"),
        batch_max_size="300", batch_max_wait="0.1", state_dir=str(tmp_path / "state"),
        checkpoint_every_batches="2", topic_partitions="1",
    )  # fmt: skip
    return topics, env, make_stream(GRAPH, 0, grid_circuit(1200, seed=5), 5, per_record=150)


def _covered(bootstrap: str, deltas: str, offset: int) -> Callable[[], bool]:
    return lambda: read_delta_log(bootstrap, deltas).last_offset.get(GRAPH, -1) >= offset


def _client(bootstrap: str, topics: dict[str, str]) -> SparsifierClient:
    return SparsifierClient(
        {"bootstrap.servers": bootstrap}, GRAPH, topics["deltas"], topics["edges"]
    )


def _compacted(bootstrap: str, topic: str) -> bool:
    """Whether the cleaner has run: fewer records can be read than were written. A record of
    another key rolls the active segment first (the cleaner skips the active one)."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    producer.produce(topic, orjson.dumps({"batch": 0, "delta_partition": 0, "delta_offset": 0}),
                     b"other")  # fmt: skip
    assert producer.flush(10) == 0
    records = list(read_topic({"bootstrap.servers": bootstrap}, topic))
    return bool(records) and len(records) < records[-1].offset() + 1


def _wait(check: Callable[[], bool], what: str, timeout: float, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.diagnosis()}"
        time.sleep(1.0)


def test_a_new_consumer_loads_h_from_the_compacted_topic(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics, env, stream = _setup(kafka_bootstrap, unique_name, create_topic, tmp_path)
    cut = 2 * len(stream.values) // 3
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        first = send_keyed(kafka_bootstrap, topics["input"], GRAPH, stream.values[:cut])
        worker.wait_until(_covered(kafka_bootstrap, topics["deltas"], first), 120, "phase 1")
        _wait(lambda: _compacted(kafka_bootstrap, topics["edges"]), "a compaction", 90, worker)
        early = _client(kafka_bootstrap, topics)
        assert early.load() > 0 and early.state.position is not None
        list(early.follow())
        history = materialize({"bootstrap.servers": kafka_bootstrap}, topics["deltas"], GRAPH)
        assert early.state.sparsifier.edges == history.sparsifier.edges
        assert early.state.batches == history.batches
        said: list[str] = []
        absent = unique_name("absent-edges")
        fallback = materialize({"bootstrap.servers": kafka_bootstrap}, topics["deltas"], GRAPH,
                               edges_topic=absent, progress=said.append)  # fmt: skip
        assert fallback.sparsifier.edges == history.sparsifier.edges
        assert said[0] == f"no current-H topic {absent!r}: reading every delta instead"
        last = send_keyed(kafka_bootstrap, topics["input"], GRAPH, stream.values[cut:])
        middle = _client(kafka_bootstrap, topics)  # starts while phase 2 is processed
        middle.load()
        list(middle.follow())
        worker.wait_until(_covered(kafka_bootstrap, topics["deltas"], last), 120, "phase 2")
        assert worker.stop() == 0, worker.diagnosis()
    (engine,) = final_engines(tmp_path / "state", topics).values()
    u, v, w = (c.tolist() for c in engine.sparsifier_edges())
    final = dict(zip(zip(u, v, strict=True), w, strict=True))
    late = _client(kafka_bootstrap, topics)
    late.load()
    for client in (early, middle, late):
        list(client.follow())
        assert client.state.sparsifier.edges == final
        assert client.state.batches == engine.batch_number
    matrix, ids = late.state.matrix()
    assert matrix.nnz == 2 * len(final) and abs(matrix.sum() - 2 * sum(w)) < 1e-9 * sum(w)
    assert len(ids) == len({x for edge in final for x in edge})


def test_recovery_needs_only_the_deltas_after_the_checkpoints(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics, env, stream = _setup(kafka_bootstrap, unique_name, create_topic, tmp_path)
    cut = len(stream.values) // 2
    with WorkerProcess(env, tmp_path / "worker-1.log") as worker:
        first = send_keyed(kafka_bootstrap, topics["input"], GRAPH, stream.values[:cut])
        worker.wait_until(_covered(kafka_bootstrap, topics["deltas"], first), 120, "phase 1")
        assert worker.stop() == 0, worker.diagnosis()  # a graceful stop checkpoints every graph
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": unique_name("ends")})
    _, gone = reader.get_watermark_offsets(TopicPartition(topics["deltas"], 0), 30)
    reader.close()  # the end: past the deltas and their transactions' commit markers
    deleted = admin.delete_records([TopicPartition(topics["deltas"], 0, gone)])
    for future in deleted.values():
        future.result(timeout=30)  # every delta so far is gone, as retention would have it
    assert read_delta_log(kafka_bootstrap, topics["deltas"]).contents == {}
    with WorkerProcess(env, tmp_path / "worker-2.log") as worker:
        last = send_keyed(kafka_bootstrap, topics["input"], GRAPH, stream.values[cut:])
        worker.wait_until(_covered(kafka_bootstrap, topics["deltas"], last), 120, "phase 2")
        assert worker.stop() == 0, worker.diagnosis()
    (engine,) = final_engines(tmp_path / "state", topics).values()
    u, v, w = (c.tolist() for c in engine.sparsifier_edges())
    client = _client(kafka_bootstrap, topics)
    client.load()
    list(client.follow())
    assert client.state.sparsifier.edges == dict(zip(zip(u, v, strict=True), w, strict=True))
    u, v, w = (c.tolist() for c in engine.graph_edges())
    assert dict(zip(zip(u, v, strict=True), w, strict=True)) == stream.expected.edges

    shutil.rmtree(tmp_path / "state")  # the volume is lost: recovery needs every delta
    send_keyed(kafka_bootstrap, topics["input"], GRAPH, stream.values[-1:])  # something to process
    with WorkerProcess(env, tmp_path / "worker-3.log") as worker:
        worker.wait_until(lambda: not worker.alive(), 120, "the worker to stop")
        assert worker.stop() == 1
        lines = worker.log.read_text().splitlines()
    reasons = [line for line in lines if line.startswith("sparsiflow worker stopped:")]
    assert len(reasons) == 1, worker.diagnosis()
    assert "are gone (retention)" in reasons[0] and topics["deltas"] in reasons[0]
