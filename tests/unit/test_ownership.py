"""One writer per graph, without a broker: a graph belongs to the input partition its id hashes
to (Kafka's murmur2, or librdkafka's CRC-32), in every worker; records elsewhere go to the DLQ
before any graph state exists. A graph whose delta log contradicts itself is quarantined: its
records go to the DLQ (``conflicting_log``) while the partition's other graphs go on."""

from __future__ import annotations

import asyncio
import logging
import zlib

import orjson
import pytest
from memlog import INPUT, MemLog, log_processor
from prometheus_client import CollectorRegistry

from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.recovery.restorer import LogRecord
from sparsiflow.connector.stream.ownership import Ownership, key_partition, murmur2
from sparsiflow.connector.stream.processor import OutputTopics, Processor
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.connector.wire.rejections import ErrorClass, Reason

TOPICS = OutputTopics("deltas", "metrics", "dlq", 1)

# Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java)
MURMUR2_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("key", "expected"), MURMUR2_VECTORS)
def test_murmur2_matches_kafka(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_key_partition_under_each_partitioner() -> None:
    # toPositive(-790332482) = 1357151166
    assert key_partition(b"foobar", 10) == 1357151166 % 10 == 6
    assert key_partition(b"123456789", 7, "crc32") == 0xCBF43926 % 7  # CRC-32's check value
    assert key_partition(b"g", 3, "crc32") == zlib.crc32(b"g") % 3
    assert {key_partition(f"g{i}".encode(), 4) for i in range(50)} == {0, 1, 2, 3}
    assert key_partition(b"anything", 1) == 0
    with pytest.raises(ValueError, match="partitions"):
        key_partition(b"g", 0)
    with pytest.raises(ValueError, match="unknown partitioner"):
        Ownership(2, "random")  # type: ignore[arg-type]


def graph_on(partition: int, ownership: Ownership, stem: str = "g") -> str:
    """A graph id the ownership rule puts on ``partition``."""
    return next(f"{stem}{i}" for i in range(1000) if ownership.owner(f"{stem}{i}") == partition)


def insert(graph: str, u: int, v: int) -> bytes:
    return orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": 1.0})


def reasons(log: MemLog) -> list[tuple[str, str]]:
    out = []
    for record in log.topics["dlq"][0]:
        headers = dict(record.headers)
        out.append((headers["sparsiflow.reason"].decode(), headers["sparsiflow.message"].decode()))
    return out


def quarantined(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("sparsiflow_graphs", {"state": "quarantined"})


def test_a_graph_is_taken_only_on_the_partition_its_id_hashes_to() -> None:
    ownership = Ownership(2)
    home = graph_on(1, ownership)
    log = MemLog()
    proc = log_processor(log, TOPICS, None, max_size=2, every_batches=10, ownership=ownership)

    async def run() -> None:
        await proc.on_assigned({0, 1})
        await proc.on_record(log.append_input(INPUT, 0, home.encode(), insert(home, 1, 2)))
        assert len(proc.graphs) == 0  # refused before any state of the graph exists
        await proc.on_record(log.append_input(INPUT, 0, home.encode(), None))  # a tombstone
        for i in range(4):
            await proc.on_record(log.append_input(INPUT, 1, home.encode(), insert(home, i, i + 1)))
        await proc.drain()

    asyncio.run(run())
    assert [s.partition for s in proc.graphs] == [1]
    (wrong, message), (tombstone, _) = reasons(log)
    assert wrong == tombstone == "wrong_partition"
    assert "belongs to input partition 1" in message and "murmur2" in message
    assert "SPARSIFLOW_PARTITIONER" in message
    assert {decode_delta(r.value).source.partition for r in log.topics["deltas"][0]} == {1}


def test_the_crc32_rule_is_used_when_set() -> None:
    ownership = Ownership(2, "crc32")
    home = graph_on(0, ownership)
    assert key_partition(home.encode(), 2, "crc32") == 0
    table_log = MemLog()
    proc = log_processor(table_log, TOPICS, None, max_size=2, every_batches=10, ownership=ownership)

    async def run() -> None:
        await proc.on_assigned({0, 1})
        await proc.on_record(table_log.append_input(INPUT, 1, home.encode(), insert(home, 1, 2)))
        await proc.on_record(table_log.append_input(INPUT, 0, home.encode(), insert(home, 1, 2)))
        await proc.drain()

    asyncio.run(run())
    assert [(s.graph, s.partition) for s in proc.graphs] == [(home, 0)]
    ((reason, message),) = reasons(table_log)
    assert reason == "wrong_partition" and "crc32" in message


def forked_log(a: str, b: str) -> MemLog:
    """Graphs ``a`` and ``b`` on input partition 0, both published; then a second, different
    delta of ``a``'s batch 0 appended to the deltas topic (two writers)."""
    log = MemLog()
    proc = log_processor(log, TOPICS, None, max_size=2, every_batches=10)

    async def run() -> None:
        await proc.on_assigned({0})
        for i in range(4):
            for g in (a, b):
                await proc.on_record(log.append_input(INPUT, 0, g.encode(), insert(g, i, i + 1)))
        await proc.drain()
        await proc.close()

    asyncio.run(run())
    deltas = log.topics["deltas"][0]
    first = next(r for r in deltas if decode_delta(r.value).graph == a)
    event = orjson.loads(first.value)
    event["added"] = [*event["added"][:1], [7, 9, 2.0]]
    deltas.append(LogRecord(len(deltas), first.key, orjson.dumps(event), list(first.headers)))
    return log


def test_a_contradictory_log_quarantines_its_graph_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = forked_log("a", "b")
    registry = CollectorRegistry()
    proc = log_processor(
        log, TOPICS, None, max_size=2, every_batches=10, metrics=WorkerMetrics(registry)
    )
    b_batches = sum(decode_delta(r.value).graph == "b" for r in log.topics["deltas"][0])

    async def run(proc: Processor) -> None:
        await proc.on_assigned({0})
        for i in range(10, 14):
            for g in ("a", "b"):
                await proc.on_record(log.append_input(INPUT, 0, g.encode(), insert(g, i, i + 1)))
        await proc.drain()
        await proc.on_tick()

    with caplog.at_level(logging.ERROR):
        asyncio.run(run(proc))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "'a'" in errors[0] and "batch 0" in errors[0]
    assert quarantined(registry) == 1
    assert [s.graph for s in proc.graphs] == ["b"]
    rejected = reasons(log)
    assert [r for r, _ in rejected] == ["conflicting_log"] * 4  # nothing of a is lost
    assert "quarantined" in rejected[0][1] and "batch 0" in rejected[0][1]
    assert Reason.CONFLICTING_LOG.error_class is ErrorClass.ROUTING_REJECTION
    b_now = [decode_delta(r.value) for r in log.topics["deltas"][0]]
    numbers = [e.batch for e in b_now if e.graph == "b"]  # b went on (a check may add one)
    assert len(numbers) >= b_batches + 2 and numbers == list(range(len(numbers)))
    assert len(log.acked) >= 8  # every new record acknowledged: the partition is not blocked

    # a restart finds the same contradiction: quarantined again, b recovered
    again = log_processor(
        log, TOPICS, None, max_size=2, every_batches=10, metrics=WorkerMetrics(CollectorRegistry())
    )
    asyncio.run(run(again))
    assert [s.graph for s in again.graphs] == ["b"]
    assert [r for r, _ in reasons(log)] == ["conflicting_log"] * 8


def test_deltas_written_under_another_partitioning_quarantine_their_graph() -> None:
    """A graph published from a partition that no longer owns it (the input topic's partitions
    or the partitioner changed): recovery sets it aside instead of stopping the worker."""
    ownership = Ownership(2)
    stray, home = graph_on(0, ownership, "s"), graph_on(1, ownership, "h")
    log = MemLog()
    legacy = log_processor(log, TOPICS, None, max_size=2, every_batches=10)  # first seen

    async def fill() -> None:
        await legacy.on_assigned({1})
        for i in range(2):
            for g in (stray, home):
                await legacy.on_record(log.append_input(INPUT, 1, g.encode(), insert(g, i, i + 1)))
        await legacy.drain()
        await legacy.close()

    asyncio.run(fill())
    registry = CollectorRegistry()
    proc = log_processor(
        log, TOPICS, None, max_size=2, every_batches=10, metrics=WorkerMetrics(registry),
        ownership=ownership,
    )  # fmt: skip

    async def run() -> None:
        await proc.on_assigned({1})
        await proc.on_tick()

    asyncio.run(run())
    assert [s.graph for s in proc.graphs] == [home]
    assert quarantined(registry) == 1
