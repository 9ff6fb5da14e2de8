"""Reliability on the real broker: a worker SIGKILLed again and again while a stream flows, two
workers in one group with one leaving mid-stream, and poison records at 1 %. Each run ends with
the delta log replaying to exactly the worker's final H (a subgraph of G with G's components),
G holding every input update, and no (graph, batch) published twice with different content."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from reliability_support import (
    Feeder,
    check_final_state,
    covered,
    final_engines,
    interleave,
    make_stream,
    read_delta_log,
    recoveries,
    reliability_env,
    two_partition_topics,
    two_streams,
)

from sparsiflow import schemas
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess
from sparsiflow.connector.wire.dead_letters import read_dlq_headers
from sparsiflow.workloads.families import power_law


@pytest.mark.slow
def test_sigkilled_worker_loses_nothing_and_never_contradicts_a_delta(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = two_partition_topics(unique_name, create_topic)
    streams = two_streams(25_000, 12_000)
    updates = sum(len(s.updates) for s in streams)
    assert updates >= 200_000
    items = interleave(streams)
    state = tmp_path / "state" / "worker"  # missing: the worker creates it
    env = reliability_env(kafka_bootstrap, topics, unique_name("group"), state)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    feeder = Feeder(kafka_bootstrap, topics["input"], items, rate=len(items) / 50)
    feeder.start()
    rng = random.Random(11)
    restarts: list[float] = []
    recovery_seconds: list[float] = []
    kills, torn = 0, False
    while kills < 6 or feeder.is_alive():
        published = len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents)
        worker.wait_until(
            lambda n=published: len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents)
            > n or not feeder.is_alive(),
            120, "progress after a restart",
        )  # fmt: skip
        time.sleep(rng.uniform(0.1, 2.5))
        worker.kill()
        kills += 1
        saved = sorted((state / "checkpoints").rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
        if kills >= 3 and not torn and saved:  # a torn newest checkpoint: the one before serves
            saved[-1].write_bytes(saved[-1].read_bytes()[: saved[-1].stat().st_size // 2])
            torn = True
        since = worker.log.stat().st_size
        started = time.monotonic()
        worker.start()
        worker.wait_until(lambda s=since: len(recoveries(worker, s)) >= 2, 120, "recovery")
        restarts.append(time.monotonic() - started)
        recovery_seconds += [seconds for _, seconds in recoveries(worker, since)]
    feeder.join()
    assert not feeder.errors, feeder.errors
    worker.wait_until(covered(kafka_bootstrap, topics, feeder.last), 180, "the last deltas")
    assert worker.stop() == 0, worker.diagnosis()
    assert torn and b"skipping checkpoint" in worker.log.read_bytes()
    log = check_final_state(kafka_bootstrap, topics, streams, final_engines(state, topics))
    report = {
        "kills": kills,
        "updates": updates,
        "restart_to_recovered_seconds": sorted(restarts),
        "recovery_step_seconds": sorted(recovery_seconds),
        "deltas": len(log.contents),
        "repeated_deltas_identical": log.repeats,
        "repeated_deltas_differing": log.conflicts,
    }
    print(json.dumps(report))
    assert kills >= 5 and log.conflicts == 0


@pytest.mark.slow
def test_two_workers_share_partitions_and_one_leaves_mid_stream(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    """Separate state folders: the partition that moves is rebuilt from the delta log."""
    topics = two_partition_topics(unique_name, create_topic)
    streams = two_streams(8_000, 6_000)
    group = unique_name("group")
    states = [tmp_path / "a", tmp_path / "b"]
    first = WorkerProcess(
        reliability_env(kafka_bootstrap, topics, group, states[0]), tmp_path / "a.log"
    )
    second = WorkerProcess(
        reliability_env(kafka_bootstrap, topics, group, states[1]), tmp_path / "b.log"
    )
    first.start()
    items = interleave(streams)
    feeder = Feeder(kafka_bootstrap, topics["input"], items, rate=len(items) / 40)
    feeder.start()
    first.wait_until(lambda: len(recoveries(first, 0)) >= 2, 120, "the first worker")
    second.start()
    second.wait_until(lambda: len(recoveries(second, 0)) >= 1, 120, "the second worker")
    published = len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents)
    first.wait_until(
        lambda: len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents) >= published + 4,
        120, "deltas from both workers",
    )  # fmt: skip
    assert feeder.is_alive(), "the stream ended before the first worker left"
    assert first.stop() == 0, first.diagnosis()
    second.wait_until(lambda: {p for p, _ in recoveries(second, 0)} == {0, 1}, 120, "takeover")
    feeder.join()
    assert not feeder.errors, feeder.errors
    second.wait_until(covered(kafka_bootstrap, topics, feeder.last), 180, "the last deltas")
    assert second.stop() == 0, second.diagnosis()
    log = check_final_state(kafka_bootstrap, topics, streams, final_engines(states[1], topics))
    assert log.conflicts == 0


def test_poison_records_at_one_percent_never_stall_progress(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = two_partition_topics(unique_name, create_topic)
    streams = [make_stream("g1.0", 0, power_law(3_000, seed=5), 5, 10)]
    corpus = [
        (f.name.split("--")[0], f.read_bytes()) for f in schemas.samples("edge-update", "bad")
    ]
    mismatch = orjson.dumps({"graph": "g1.0", "op": "insert", "u": 1, "v": 2, "w": 1.0})
    corpus.append(("key_mismatch", mismatch))
    count = len(streams[0].values) // 99 + 1  # 1 % of all records
    poison = [(b"g1.0" if r != "key_mismatch" else b"other", v, 0) for r, v in corpus]
    extra = [poison[i % len(poison)] for i in range(count)]
    items = interleave(streams, extra, seed=2)
    bad = {id(item) for item in extra}
    group = unique_name("group")
    env = reliability_env(kafka_bootstrap, topics, group, tmp_path / "state")
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        feeder = Feeder(kafka_bootstrap, topics["input"], items, rate=400)
        feeder.start()
        feeder.join()
        assert not feeder.errors, feeder.errors
        good = max(o for item, o in zip(items, feeder.offsets, strict=True) if id(item) not in bad)
        worker.wait_until(covered(kafka_bootstrap, topics, {0: good}), 120, "the last delta")
        worker.wait_until(
            lambda: len(list(read_topic({"bootstrap.servers": kafka_bootstrap}, topics["dlq"])))
            >= count, 60, "the DLQ",
        )  # fmt: skip
        assert worker.stop() == 0, worker.diagnosis()
    dlq = list(read_topic({"bootstrap.servers": kafka_bootstrap}, topics["dlq"]))
    assert len(dlq) == count
    expected = {reason for reason, _ in corpus[: min(count, len(corpus))]}
    assert {read_dlq_headers(m.headers())["sparsiflow.reason"] for m in dlq} == expected
    engines = final_engines(tmp_path / "state", topics)
    check_final_state(kafka_bootstrap, topics, streams, engines)
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = consumer.committed([TopicPartition(topics["input"], 0)], timeout=30)
    consumer.close()
    assert committed[0].offset == len(items)  # every record, poison included, acknowledged
