"""The worker end to end on the real broker: two graphs on two partitions, the bad-input corpus,
an independent client (kcat) and a graceful stop. The worker runs as a subprocess."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sparsiflow import schemas
from sparsiflow.connector.downstream.materialize import (
    EdgeMap,
    Materialized,
    materialize,
    read_topic,
)
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.observability.kappa import dense_pair
from sparsiflow.connector.wire.dead_letters import read_dlq_headers
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.connector.wire.edge_updates import encode_records
from sparsiflow.engine.graph.edges import components
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import grid_circuit, power_law
from sparsiflow.workloads.streams import update_stream

KINDS = ("input", "deltas", "metrics", "dlq")


def _topics(bootstrap: str, input_partitions: int) -> dict[str, str]:
    stem = uuid.uuid4().hex[:10]
    names = {kind: f"t-connector-{stem}-{kind}" for kind in KINDS}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(names["input"], num_partitions=input_partitions, replication_factor=1)
    admin.create_topics([new])[names["input"]].result(timeout=30)
    return names


def _send(bootstrap: str, topic: str, items: list[tuple[bytes, bytes, int]]) -> list[int]:
    """Produce (key, value, partition) in order; return each record's offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 16 * 2**20})
    offsets: list[int] = [-1] * len(items)
    for i, (key, value, partition) in enumerate(items):

        def done(err: Any, msg: Any, i: int = i) -> None:
            assert err is None, err
            offsets[i] = msg.offset()

        producer.produce(topic, value, key, partition=partition, on_delivery=done)
        producer.poll(0)
    assert producer.flush(60) == 0
    return offsets


def _state(bootstrap: str, topics: dict[str, str], graph: str, with_input: bool) -> Materialized:
    conf = {"bootstrap.servers": bootstrap}
    input_topic = topics["input"] if with_input else None
    return materialize(conf, topics["deltas"], graph, input_topic=input_topic)


def _covered(bootstrap: str, topics: dict[str, str], graph: str, last_offset: int) -> bool:
    try:
        state = _state(bootstrap, topics, graph, with_input=False)
    except RuntimeError:  # the worker has not created the deltas topic yet
        return False
    return bool(state.sources) and state.sources[-1].last_offset >= last_offset


def _records(bootstrap: str, topic: str) -> list[Any]:
    try:
        return list(read_topic({"bootstrap.servers": bootstrap}, topic))
    except RuntimeError:  # not created yet
        return []


@dataclass
class Run:
    bootstrap: str
    topics: dict[str, str]
    expected: dict[str, EdgeMap]
    partitions: dict[str, int]


@pytest.fixture(scope="module")
def two_graph_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Two graphs streamed at once (insertions, then insertions and deletions): one in
    batch-form records on partition 1, one in single-update records with sparse 2^40-scale
    node ids on partition 2 (the partitions their ids hash to); processed by one worker."""
    topics = _topics(kafka_bootstrap, input_partitions=4)
    streams = {
        "circuit": update_stream(grid_circuit(300, seed=1), 0.25, 0.05, seed=1),
        "social.b": update_stream(power_law(250, seed=2), 0.25, 0.05, seed=2),
    }
    plan = {"circuit": (1, "batch", 1), "social.b": (2, "single", 1_000_003)}
    items: list[tuple[bytes, bytes, int]] = []
    expected: dict[str, EdgeMap] = {}
    for graph, stream in streams.items():
        partition, form, scale = plan[graph]
        base = UpdateBatch.inserts(stream.base.u, stream.base.v, stream.base.w)
        updates = UpdateBatch.concat([base, stream.batch()])
        shift = 2**40 if scale > 1 else 0
        updates = UpdateBatch(
            updates.ops, updates.u * scale + shift, updates.v * scale + shift, updates.w
        )
        expected[graph] = EdgeMap()
        expected[graph].apply_updates(updates)
        records = encode_records(graph, updates, "batch" if form == "batch" else "single", 40)
        items += [(graph.encode(), value, partition) for value, _ in records]
    order = np.random.default_rng(0).permutation(len(items))  # interleave, keep each graph's order
    ranks = {g: sorted(i for i in order if items[i][0] == g.encode()) for g in streams}
    merged = [items[ranks[g].pop(0)] for g in (items[i][0].decode() for i in order)]
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = worker_env(kafka_bootstrap, topics, f"g-{uuid.uuid4().hex[:8]}", batch_max_size="150")
    with WorkerProcess(env, log) as worker:
        offsets = _send(kafka_bootstrap, topics["input"], merged)
        last = {
            g: max(o for o, it in zip(offsets, merged, strict=True) if it[0] == g.encode())
            for g in streams
        }
        for graph in streams:
            worker.wait_until(
                lambda g=graph: _covered(kafka_bootstrap, topics, g, last[g]),
                120,
                f"{graph} deltas",
            )
        assert worker.stop() == 0, worker.diagnosis()
    yield Run(kafka_bootstrap, topics, expected, {g: plan[g][0] for g in streams})


def _components(g: EdgeMap, h: EdgeMap) -> tuple[int, int]:
    dense_g, dense_h = dense_pair(g.columns(), h.columns())
    return components(dense_g)[0], components(dense_h)[0]


@pytest.mark.parametrize("graph", ["circuit", "social.b"])
def test_sparsifier_from_deltas_is_a_subgraph_with_the_components_of_g(
    two_graph_run: Run, graph: str
) -> None:
    run = two_graph_run
    state = _state(run.bootstrap, run.topics, graph, with_input=True)
    assert state.input is not None
    assert state.input.edges == run.expected[graph].edges  # G implied by the input
    g, h = state.input.edges, state.sparsifier.edges
    assert h.keys() <= g.keys() and all(h[e] == g[e] for e in h)
    assert len(h) < len(g)
    assert _components(state.input, state.sparsifier) == (1, 1)
    assert state.batches >= 3 and state.duplicates == 0  # contiguous (materialize checks gaps)
    assert {s.partition for s in state.sources} == {run.partitions[graph]}
    firsts = [s.first_offset for s in state.sources]
    lasts = [s.last_offset for s in state.sources]
    # each delta covers records first..last, or none (last = first - 1: a quiet graph settling)
    assert all(f <= la + 1 for f, la in zip(firsts, lasts, strict=True))
    assert all(nxt > la for la, nxt in zip(lasts, firsts[1:], strict=False))


@pytest.mark.parametrize("graph", ["circuit", "social.b"])
def test_metrics_events_match_the_deltas(two_graph_run: Run, graph: str) -> None:
    run = two_graph_run
    delta_schema = Draft202012Validator(schemas.load_schema("sparsifier-delta"))
    metric_schema = Draft202012Validator(schemas.load_schema("quality-metrics"))
    deltas = [
        orjson.loads(m.value())
        for m in _records(run.bootstrap, run.topics["deltas"])
        if m.key() == graph.encode()
    ]
    metrics = [
        orjson.loads(m.value())
        for m in _records(run.bootstrap, run.topics["metrics"])
        if m.key() == graph.encode()
    ]
    assert all(delta_schema.is_valid(d) for d in deltas)
    assert all(metric_schema.is_valid(m) for m in metrics)
    assert [m["batch"] for m in metrics] == [d["batch"] for d in deltas] == list(range(len(deltas)))
    h_size = np.cumsum([len(d["added"]) - len(d["removed"]) for d in deltas])
    assert [m["edges_sparsifier"] for m in metrics] == h_size.tolist()
    final = metrics[-1]
    g = run.expected[graph]
    assert final["edges_graph"] == len(g) == sum(m["inserted"] - m["deleted"] for m in metrics)
    assert final["components"] == 1 and final["nodes"] == len({x for e in g.edges for x in e})
    assert all(m["latency_seconds"] >= 0 and m["engine_seconds"] >= 0 for m in metrics)


def test_kcat_reads_the_same_deltas(two_graph_run: Run) -> None:
    kcat = shutil.which("kcat")
    assert kcat is not None, "kcat is missing: run `make dev` (scripts/install-system-tools.sh)"
    run = two_graph_run
    done = subprocess.run(
        [kcat, "-b", run.bootstrap, "-C", "-t", run.topics["deltas"], "-o", "beginning", "-e",
         "-q", "-f", "%k\t%p\t%s\n"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rebuilt: dict[str, EdgeMap] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.split("\t", 2)
        rebuilt.setdefault(key, EdgeMap()).apply_delta(decode_delta(value.encode()).delta)
    assert set(rebuilt) == {"circuit", "social.b"}
    for graph, h in rebuilt.items():
        assert (
            h.edges == _state(run.bootstrap, run.topics, graph, with_input=False).sparsifier.edges
        )


def _scrape(worker: WorkerProcess, into: dict[str, float]) -> bool:
    """Read the worker's /metrics into ``into`` (name{labels} -> value); True once the
    consumer-lag gauge has a series."""
    port = re.search(r"metrics on port (\d+)", worker.tail(100_000))
    if port is None:
        return False
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=10) as page:
        text = page.read().decode()
    into.clear()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            into[name] = float(value)
    return any(k.startswith("sparsiflow_consumer_lag_records{") for k in into)


def _corpus() -> list[tuple[str, bytes]]:
    """(expected reason, record value) of every bad input class."""
    bad = [(f.name.split("--")[0], f.read_bytes()) for f in schemas.samples("edge-update", "bad")]
    n = 100_001
    ids = list(range(n + 1))
    huge = orjson.dumps(
        {"graph": "good", "ops": ["insert"] * n, "u": ids[:-1], "v": ids[1:], "w": [1.0] * n}
    )
    stranger = orjson.dumps({"graph": "stranger", "op": "insert", "u": 1, "v": 2, "w": 1.0})
    return [*bad, ("oversized_batch", huge), ("unknown_graph", stranger)]


def test_bad_input_goes_to_the_dlq_with_reasons_and_good_input_flows(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = _topics(kafka_bootstrap, input_partitions=1)
    corpus: list[tuple[str, bytes | None]] = list(_corpus())
    items: list[tuple[bytes, bytes, int]] = []
    reasons: dict[int, str] = {}
    good = EdgeMap()
    for i, (reason, bad) in enumerate([*corpus, ("key_mismatch", None)]):
        event = orjson.dumps({"graph": "good", "op": "insert", "u": i, "v": i + 1, "w": 1.0 + i})
        good.apply_updates(UpdateBatch.build([0], [i], [i + 1], [1.0 + i]))
        items.append((b"good", event, 0))
        reasons[len(items)] = reason
        key = {"key_mismatch": b"other", "unknown_graph": b"stranger"}.get(reason, b"good")
        items.append((key, event if bad is None else bad, 0))
    items.append((b"good", orjson.dumps({"graph": "good", "op": "delete", "u": 0, "v": 1}), 0))
    good.edges.pop((0, 1))
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = worker_env(kafka_bootstrap, topics, group, allowed_graphs="good,g1,road.eu-2024_v2")
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        offsets = _send(kafka_bootstrap, topics["input"], items)
        worker.wait_until(
            lambda: _covered(kafka_bootstrap, topics, "good", offsets[-1]), 120, "deltas"
        )
        worker.wait_until(
            lambda: len(_records(kafka_bootstrap, topics["dlq"])) >= len(reasons), 60, "DLQ"
        )
        samples: dict[str, float] = {}
        worker.wait_until(lambda: _scrape(worker, samples), 30, "the consumer-lag gauge")
        assert worker.stop() == 0, worker.diagnosis()
    assert samples["sparsiflow_events_consumed_total"] == len(items)
    assert sum(
        v for k, v in samples.items() if k.startswith("sparsiflow_events_rejected_total")
    ) == len(reasons)
    assert samples['sparsiflow_batches_total{graph="good"}'] >= 1
    dlq = _records(kafka_bootstrap, topics["dlq"])
    envelope = Draft202012Validator(schemas.load_schema("dlq-envelope"))
    got = {}
    for msg in dlq:
        headers = read_dlq_headers(msg.headers())
        assert envelope.is_valid(headers), headers
        offset = int(headers["sparsiflow.source_offset"])
        assert msg.value() == items[offset][1] and msg.key() == items[offset][0]
        got[offset] = headers["sparsiflow.reason"]
    assert got == {offsets[i]: reason for i, reason in reasons.items()}
    state = _state(kafka_bootstrap, topics, "good", with_input=True)
    assert state.input is not None and state.input.edges == good.edges
    assert state.sparsifier.edges.keys() <= good.edges.keys()
    # graceful stop: every record is acknowledged and committed (DLQ'd ones included)
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = consumer.committed([TopicPartition(topics["input"], 0)], timeout=30)
    consumer.close()
    assert committed[0].offset == len(items)


def test_worker_exits_cleanly_on_sigterm_while_idle(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = _topics(kafka_bootstrap, input_partitions=2)
    env = worker_env(kafka_bootstrap, topics, f"g-{uuid.uuid4().hex[:8]}", topic_partitions="2")
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    worker.wait_until(lambda: topics["dlq"] in admin.list_topics(timeout=10).topics, 60, "topics")
    time.sleep(2)
    assert worker.stop(timeout=60) == 0, worker.diagnosis()
    meta = admin.list_topics(timeout=10).topics
    assert all(len(meta[topics[k]].partitions) == 2 for k in ("deltas", "metrics", "dlq"))


def test_sigterm_mid_stream_publishes_open_batches_then_commits(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A graceful stop with a backlog: the worker closes its open batches at once, exits 0, and
    the committed offset is exactly the end of what its published deltas cover."""
    topics = _topics(kafka_bootstrap, input_partitions=1)
    n = 4000
    path = UpdateBatch.inserts(np.arange(n), np.arange(1, n + 1), np.ones(n))
    items = [(b"p", value, 0) for value, _ in encode_records("p", path, "single")]
    _send(kafka_bootstrap, topics["input"], items)
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = worker_env(kafka_bootstrap, topics, group, batch_max_size="200", batch_max_wait="120")
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    worker.wait_until(lambda: _covered(kafka_bootstrap, topics, "p", 0), 60, "a first delta")
    stopping = time.monotonic()
    assert worker.stop(timeout=60) == 0, worker.diagnosis()
    assert time.monotonic() - stopping < 30  # open batches closed at once, not at their deadline
    state = _state(kafka_bootstrap, topics, "p", with_input=False)
    covered = state.sources[-1].last_offset
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = consumer.committed([TopicPartition(topics["input"], 0)], timeout=30)[0].offset
    consumer.close()
    assert committed == covered + 1
    assert len(state.sparsifier) == covered + 1  # a path: every edge is in H


def test_paused_partition_loses_no_fetched_record(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Backpressure pauses the partition while records of two graphs interleave on it (so their
    acknowledgements come out of offset order): every record ends in a delta exactly once, and
    the committed offset is the partition's end once the worker stops."""
    topics = _topics(kafka_bootstrap, input_partitions=1)
    n = 3000
    path = UpdateBatch.inserts(np.arange(n), np.arange(1, n + 1), np.ones(n))
    graphs = ("pa", "pb")
    single = {g: [v for v, _ in encode_records(g, path, "single")] for g in graphs}
    items = [(g.encode(), single[g][i], 0) for i in range(n) for g in graphs]
    offsets = _send(kafka_bootstrap, topics["input"], items)
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        kafka_bootstrap, topics, group, batch_max_size="150", batch_max_wait="0.2",
        pause_pending_updates="40", buffer_records="1000",
    )  # fmt: skip
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        last = offsets[-1] - 1
        for g in graphs:
            worker.wait_until(lambda g=g: _covered(kafka_bootstrap, topics, g, last), 120, g)
        scraped: dict[str, float] = {}
        worker.wait_until(lambda: _scrape(worker, scraped), 30, "metrics")
        assert scraped["sparsiflow_input_pauses_total"] >= 3  # backpressure paused it repeatedly
        assert worker.stop(timeout=60) == 0, worker.diagnosis()
    for g in graphs:
        state = _state(kafka_bootstrap, topics, g, with_input=False)
        assert len(state.sparsifier) == n  # a path: every edge in H, none twice
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = consumer.committed([TopicPartition(topics["input"], 0)], timeout=30)[0].offset
    consumer.close()
    assert committed == offsets[-1] + 1
