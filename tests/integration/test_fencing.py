"""One writer per input partition, on the real broker: a transactional producer that a newer one
with the same id fenced publishes nothing a ``read_committed`` reader sees; a worker's deltas are
committed transactions; a worker frozen (SIGSTOP) past the session timeout and woken while
another took its partitions is fenced, exits with a one-line reason, and the delta log never
holds two contents for one (graph, batch)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from reliability_support import (
    Feeder,
    check_final_state,
    covered,
    final_engines,
    interleave,
    read_delta_log,
    recoveries,
    reliability_env,
    two_partition_topics,
    two_streams,
)

from sparsiflow.connector.kafka.log_reader import KafkaLogReader
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.transactions import (
    PartitionTakenOverError,
    TransactionalPublisher,
)
from sparsiflow.connector.kafka.worker_process import WorkerProcess
from sparsiflow.connector.stream.records import OutputRecord
from sparsiflow.engine.engine import Engine


def _high_watermark(bootstrap: str, topic: str, partition: int = 0) -> int:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "hw", "isolation.level": "read_uncommitted"}
    )
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1])
    finally:
        consumer.close()


def test_a_fenced_producer_publishes_nothing_visible(
    kafka_bootstrap: str, unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> None:
    topic = create_topic(unique_name("out"))
    group, source = unique_name("group"), unique_name("in")
    config = {"bootstrap.servers": kafka_bootstrap}
    first = TransactionalPublisher(config, group, source, max_bytes=2**20)
    second = TransactionalPublisher(config, group, source, max_bytes=2**20)

    def record(value: bytes) -> OutputRecord:
        return OutputRecord(topic, b"g", value, [], 0)

    def taken_over(offset: int) -> list[OutputRecord]:
        """Runs mid-transaction of ``first`` (its record written, not committed): ``second``
        takes the partition, which aborts that transaction."""
        second._open(0)
        return [record(b"zombie-2")]

    async def run() -> None:
        await first.open(0)
        await first.publish(0, [record(b"before")])
        with pytest.raises(PartitionTakenOverError, match="taken over by another worker"):
            await first.publish(0, [record(b"zombie-1")], taken_over)
        with pytest.raises(PartitionTakenOverError):  # and it stays fenced
            await first.publish(0, [record(b"zombie-3")])
        await second.publish(0, [record(b"after-1")])
        await second.publish(0, [record(b"after-2")])
        await first.close()
        await second.close()

    asyncio.run(run())
    seen = [m.value() for m in read_topic(config, topic)]
    assert seen == [b"before", b"after-1", b"after-2"]
    everything = [
        m.value() for m in read_topic(config | {"isolation.level": "read_uncommitted"}, topic)
    ]
    assert everything == seen  # read_topic reads committed data whatever the caller asks
    assert _high_watermark(kafka_bootstrap, topic) > 4  # the zombie's record, and markers


def test_a_refused_record_after_the_first_fails_the_publish_and_shows_nothing(
    kafka_bootstrap: str, unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> None:
    """Only a publish's first record reports its delivery: one the broker refuses later in the
    transaction (over the topic's ``max.message.bytes``) must still fail the publish, through
    the transaction's commit, and leave nothing a ``read_committed`` reader sees."""
    topic = create_topic(unique_name("out"), config={"max.message.bytes": "2000"})
    config = {"bootstrap.servers": kafka_bootstrap}
    group, source = unique_name("group"), unique_name("in")
    publisher = TransactionalPublisher(config, group, source, max_bytes=2**20)

    def record(value: bytes) -> OutputRecord:
        return OutputRecord(topic, b"g", value, [], 0)

    async def run() -> None:
        await publisher.open(0)
        await publisher.publish(0, [record(b"before")])
        with pytest.raises(KafkaException):
            await publisher.publish(0, [record(b"first"), record(b"x" * 10_000)])
        with pytest.raises(KafkaException):  # the same, in the records that follow the first
            await publisher.publish(
                0, [record(b"delta")], lambda offset: [record(b"ok"), record(b"y" * 10_000)]
            )
        await publisher.close()

    asyncio.run(run())
    assert [m.value() for m in read_topic(config, topic)] == [b"before"]


def test_recovery_never_reads_a_log_cut_short_by_an_open_transaction(
    kafka_bootstrap: str, unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> None:
    """A transaction left open holds the last stable offset below the log's end: recovery's
    reader waits for it, and once its timeout passes it fails instead of reading a shorter
    log (which could miss committed deltas and fork the log); after the commit it reads on."""
    topic = create_topic(unique_name("deltas"))
    config = {"bootstrap.servers": kafka_bootstrap}
    producer = Producer({**config, "transactional.id": unique_name("tid")})
    producer.init_transactions(10)
    producer.begin_transaction()
    producer.produce(topic, b"open", b"g")
    assert producer.flush(10) == 0
    reader = KafkaLogReader(config, timeout=1.0)
    try:
        with pytest.raises(TimeoutError, match="open transaction held its last stable offset"):
            reader.end_offset(topic, 0)
        producer.commit_transaction(10)
        assert reader.end_offset(topic, 0) == 2  # the record and its commit marker
    finally:
        reader.close()


@pytest.mark.slow
def test_a_workers_deltas_are_committed_transactions(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = two_partition_topics(unique_name, create_topic)
    streams = two_streams(3_000)
    items = interleave(streams)
    state = tmp_path / "state"
    worker = WorkerProcess(
        reliability_env(kafka_bootstrap, topics, unique_name("group"), state), tmp_path / "w.log"
    )
    with worker:
        feeder = Feeder(kafka_bootstrap, topics["input"], items, rate=len(items) / 5)
        feeder.start()
        feeder.join()
        assert not feeder.errors, feeder.errors
        worker.wait_until(covered(kafka_bootstrap, topics, feeder.last), 180, "the deltas")
        assert worker.stop() == 0, worker.diagnosis()
    log = check_final_state(kafka_bootstrap, topics, streams, final_engines(state, topics))
    deltas = sum(len(v) for v in log.contents.values())
    high = sum(_high_watermark(kafka_bootstrap, topics["deltas"], p) for p in range(2))
    assert high >= 2 * deltas  # each delta's transaction ends with a commit marker
    metrics = list(read_topic({"bootstrap.servers": kafka_bootstrap}, topics["metrics"]))
    assert len(metrics) == deltas


def _merged_engines(states: list[Path], topics: dict[str, str]) -> dict[str, Engine]:
    """The newest checkpointed engine of each graph over several workers' state folders."""
    engines: dict[str, Engine] = {}
    for state in states:
        for graph, engine in final_engines(state, topics).items():
            if graph not in engines or engine.batch_number > engines[graph].batch_number:
                engines[graph] = engine
    return engines


@pytest.mark.slow
def test_a_frozen_worker_is_fenced_and_never_forks_the_delta_log(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = two_partition_topics(unique_name, create_topic)
    streams = two_streams(8_000)
    items = interleave(streams)
    group = unique_name("group")
    states = [tmp_path / "a", tmp_path / "b"]
    # batches wait 2 s: A is mostly frozen with a batch open, which it publishes on waking
    a = WorkerProcess(
        reliability_env(kafka_bootstrap, topics, group, states[0], "2"), tmp_path / "a.log"
    )
    b = WorkerProcess(
        reliability_env(kafka_bootstrap, topics, group, states[1], "2"), tmp_path / "b.log"
    )
    a.start()
    a.wait_until(lambda: len(recoveries(a)) >= 2, 120, "worker A")
    feeder = Feeder(kafka_bootstrap, topics["input"], items, rate=len(items) / 180)
    feeder.start()
    b.start()
    b.wait_until(lambda: len(recoveries(b)) >= 1, 120, "worker B")
    freezes, fenced, reasons = 0, 0, []
    try:
        while freezes < 3 or (freezes < 6 and fenced == 0):
            assert feeder.is_alive(), f"the stream ended after {freezes} freezes"
            if not a.alive():
                since = a.log.stat().st_size
                a.start()
                a.wait_until(lambda s=since: len(recoveries(a, s)) >= 1, 120, "A's restart")
            published = len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents)
            b.wait_until(
                lambda n=published: len(read_delta_log(kafka_bootstrap, topics["deltas"]).contents)
                >= n + 2,
                60, "progress",
            )  # fmt: skip
            since = b.log.stat().st_size
            assert a.process is not None
            os.kill(a.process.pid, signal.SIGSTOP)
            freezes += 1
            b.wait_until(
                lambda s=since: {q for q, _ in recoveries(b, s)} >= {0, 1}, 120, "B's takeover"
            )
            time.sleep(1.0)  # B publishes under its own transactions
            woken = a.log.stat().st_size
            os.kill(a.process.pid, signal.SIGCONT)
            deadline = time.monotonic() + 150  # Faust may wait 60 s for its consumer thread
            while a.alive() and time.monotonic() < deadline:
                if recoveries(a, woken):
                    break  # rejoined without being fenced (nothing was open)
                time.sleep(0.5)
            if not a.alive():
                assert a.process is not None and a.process.returncode == 1, a.diagnosis()
                stopped = [
                    line
                    for line in a.log.read_text(errors="replace").splitlines()
                    if line.startswith("sparsiflow worker stopped: ")
                ]
                assert stopped and "taken over" in stopped[-1], a.diagnosis()
                reasons.append(stopped[-1])
                fenced += 1
        feeder.join()
        assert not feeder.errors, feeder.errors
        b.wait_until(covered(kafka_bootstrap, topics, feeder.last), 180, "the last deltas")
    finally:
        if a.alive() and a.process is not None:
            os.kill(a.process.pid, signal.SIGCONT)
        codes = [a.stop(), b.stop()]
    print(json.dumps({"freezes": freezes, "fenced_exits": fenced, "codes": codes}))
    assert fenced >= 1, "worker A was never fenced"
    log = check_final_state(kafka_bootstrap, topics, streams, _merged_engines(states, topics))
    assert log.conflicts == 0
