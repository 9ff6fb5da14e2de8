"""The test broker is a real Kafka: partitions, two independent clients, groups, transactions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def _consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            if len(got) >= count:
                break
            continue
        assert msg.error() is None, msg.error()
        got.append((msg.partition(), msg.value()))
    return got


def test_topic_has_requested_partitions(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = create_topic(unique_name("p"), partitions=6)
    meta = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic, timeout=10)
    assert len(meta.topics[topic].partitions) == 6


def test_confluent_roundtrip_keeps_key_order_per_partition(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = create_topic(unique_name("rt"), partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(300):
        producer.produce(topic, key=f"g{i % 3}".encode(), value=f"{i % 3}:{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name("g"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got = _consume(consumer, 300)
    consumer.close()
    assert len(got) == 300
    per_key: dict[str, list[int]] = {}
    for _, value in got:
        key, seq = value.decode().split(":")
        per_key.setdefault(key, []).append(int(seq))
    assert all(seqs == sorted(seqs) and len(seqs) == 100 for seqs in per_key.values())


def test_aiokafka_reads_what_confluent_wrote(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = create_topic(unique_name("aio"), partitions=2)

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(50):
                await producer.send_and_wait(topic, f"aio-{i}".encode(), key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=unique_name("ag"),
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            while len(values) < 50:
                batch = await consumer.getmany(timeout_ms=10_000)
                assert batch, "aiokafka consumer timed out"
                values.extend(m.value for msgs in batch.values() for m in msgs)
        finally:
            await consumer.stop()
        return values

    values = asyncio.run(run())
    assert values == [f"aio-{i}".encode() for i in range(50)]


def test_group_commit_then_new_consumer_resumes_after_it(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = create_topic(unique_name("grp"))
    group = unique_name("g")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(20):
        producer.produce(topic, value=str(i).encode())
    producer.flush(30)
    conf = {
        "bootstrap.servers": kafka_bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    first = Consumer(conf)
    first.subscribe([topic])
    got = _consume(first, 20)
    assert [int(v) for _, v in got] == list(range(20))
    first.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    first.close()
    second = Consumer(conf)
    second.subscribe([topic])
    resumed = _consume(second, 10)
    second.close()
    assert [int(v) for _, v in resumed] == list(range(10, 20))


def test_transactional_producer_commit_visible_abort_hidden(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = create_topic(unique_name("tx"))
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": unique_name("tx")}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed")
    producer.commit_transaction(30)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name("g"),
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got = _consume(consumer, 1, timeout=15)
    consumer.close()
    assert [v for _, v in got] == [b"committed"]
