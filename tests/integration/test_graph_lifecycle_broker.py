"""Graph lifecycle through a real ``sparsiflow worker`` on the real broker: more new graphs than
``max_graphs`` (the poison path that once filled every slot for good), eviction of idle graphs to
the state folder and their reload after a restart, and a tombstone dropping a graph whose delta
log then goes on."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
from confluent_kafka import Producer
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import free_port
from reliability_support import read_delta_log

from sparsiflow import schemas
from sparsiflow.connector.downstream.materialize import materialize
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.wire.deltas import decode_delta

MAX_GRAPHS = 20
IDLE_SECONDS = 3


def _insert(graph: str, u: int, v: int) -> bytes:
    return orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": 1.0})


def _send(bootstrap: str, topic: str, records: list[tuple[str, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for key, value in records:
        producer.produce(topic, value, key.encode())
    assert producer.flush(30) == 0


def _graphs_gauge(url: str) -> dict[str, float]:
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    return {
        s.labels["state"]: s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "sparsiflow_graphs"
    }


def _reasons(bootstrap: str, topic: str) -> list[str]:
    try:
        messages = list(read_topic({"bootstrap.servers": bootstrap}, topic))
    except RuntimeError:
        return []
    return [dict(m.headers() or [])["sparsiflow.reason"].decode() for m in messages]


def _h(bootstrap: str, topic: str, graph: str) -> dict[tuple[int, int], float]:
    return materialize({"bootstrap.servers": bootstrap}, topic, graph).sparsifier.edges


def _batches(bootstrap: str, topic: str, graph: str) -> list[int]:
    log = read_delta_log(bootstrap, topic)
    return sorted(batch for g, batch in log.contents if g == graph)


def test_idle_graphs_are_evicted_reloaded_and_dropped(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = {k: create_topic(unique_name(k)) for k in ("input", "deltas", "metrics", "dlq")}
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = worker_env(
        kafka_bootstrap,
        topics,
        unique_name("group"),
        metrics_port=str(port),
        state_dir=str(tmp_path / "state"),
        max_graphs=str(MAX_GRAPHS),
        graph_idle_seconds=str(IDLE_SECONDS),
        batch_max_wait="0.2",
    )
    command = (str(Path(sys.executable).parent / "sparsiflow"), "worker")
    source, dlq, deltas = topics["input"], topics["dlq"], topics["deltas"]
    first = [f"a{i}" for i in range(MAX_GRAPHS + 5)]
    later = [f"b{i}" for i in range(10)]

    def rejected() -> bool:
        return _reasons(kafka_bootstrap, dlq).count("too_many_graphs") >= 5

    def evicted(count: int) -> Callable[[], bool]:
        return lambda: _graphs_gauge(url).get("parked", 0) >= count

    worker = WorkerProcess(env, tmp_path / "worker.log", command).start()
    try:
        _send(kafka_bootstrap, source, [(g, _insert(g, 0, 1)) for g in first])
        worker.wait_until(rejected, 120, "5 graphs over max_graphs in the DLQ")
        assert _reasons(kafka_bootstrap, dlq) == ["too_many_graphs"] * 5
        worker.wait_until(evicted(MAX_GRAPHS), 60, "the idle graphs evicted")
        _send(kafka_bootstrap, source, [(g, _insert(g, 0, 1)) for g in later])
        worker.wait_until(
            lambda: all(_batches(kafka_bootstrap, deltas, g)[:1] == [0] for g in later),
            60,
            "deltas of new graphs once the slots are free",
        )
        assert worker.stop() == 0, worker.diagnosis()

        worker = WorkerProcess(env, tmp_path / "worker-2.log", command).start()
        worker.wait_until(
            lambda: _graphs_gauge(url).get("parked") == MAX_GRAPHS + len(later),
            120,
            "every graph recovered parked after the restart",
        )
        assert _graphs_gauge(url)["resident"] == 0
        before = {g: len(_batches(kafka_bootstrap, deltas, g)) for g in ("a0", "a1")}
        _send(kafka_bootstrap, source, [("a0", _insert("a0", 1, 2)), ("a1", None)])
        _send(kafka_bootstrap, source, [("a1", _insert("a1", 5, 6))])
        worker.wait_until(
            lambda: (
                _h(kafka_bootstrap, deltas, "a0") == {(0, 1): 1.0, (1, 2): 1.0}
                and _h(kafka_bootstrap, deltas, "a1") == {(5, 6): 1.0}
            ),
            60,
            "a0 reloaded and grown; a1 dropped and refilled",
        )
    finally:
        code = worker.stop()
    assert code == 0, worker.diagnosis()

    conf = {"bootstrap.servers": kafka_bootstrap}
    for graph, count in before.items():  # numbers go on after the reload and the drop
        numbers = _batches(kafka_bootstrap, deltas, graph)
        assert numbers == list(range(len(numbers))) and len(numbers) > count
    a0 = materialize(conf, deltas, "a0", input_topic=source)
    assert a0.sparsifier.edges == {(0, 1): 1.0, (1, 2): 1.0} == a0.input.edges  # type: ignore[union-attr]
    a1 = materialize(conf, deltas, "a1", input_topic=source)
    assert a1.sparsifier.edges == {(5, 6): 1.0} == a1.input.edges  # type: ignore[union-attr]
    removals = [
        (d.batch, d.delta.removed_u.tolist(), d.delta.removed_v.tolist())
        for d in (decode_delta(m.value()) for m in read_topic(conf, deltas) if m.key() == b"a1")
        if d.delta.removed_u.size
    ]
    assert [(u, v) for _, u, v in removals] == [([0], [1])] and removals[0][0] >= before["a1"]
    validator = Draft202012Validator(schemas.load_schema("sparsifier-delta"))
    for message in read_topic(conf, deltas):
        validator.validate(orjson.loads(message.value()))
    assert read_delta_log(kafka_bootstrap, deltas).conflicts == 0
