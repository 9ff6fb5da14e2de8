"""Send updates to the input topic as input events: the library behind ``sparsiflow produce``
and the demo.

Records are keyed by graph id and partitioned with Java's murmur2 hash, like every Kafka client
that follows the Java default, so one graph always lands on one partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparsiflow.connector.wire.edge_updates import RecordForm, encode_records
from sparsiflow.engine.graph.updates import UpdateBatch

__all__ = ["CONNECT_TIMEOUT", "ProduceReport", "produce"]

CONNECT_TIMEOUT = 30.0
"""Seconds to reach the cluster and read the topic's metadata before sending (else
KafkaException)."""


@dataclass(frozen=True)
class ProduceReport:
    """What :func:`produce` delivered: counts, duration, and the last offset per partition."""

    records: int
    updates: int
    seconds: float
    last_offsets: dict[int, int]


def produce(
    config: dict[str, Any],
    topic: str,
    graph: str,
    updates: UpdateBatch,
    *,
    records: RecordForm = "batch",
    per_record: int = 1000,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Send ``updates`` of ``graph`` to ``topic`` at most at ``rate`` updates/s; wait until
    all are delivered. ``progress`` is called (about 10 times a second) with the updates sent
    since its last call.

    The producer first connects and reads the topic's metadata (:data:`CONNECT_TIMEOUT`), and
    the pacing starts after that: a cold idempotent producer held its first records about
    0.5 s (local broker; 4 ms once connected), which a paced run counted as the worker's
    latency (``bench.connector_throughput``'s p99 at half rate was that wait)."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
            **config,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "message.max.bytes": 16 * 2**20,
        }
    )
    producer.list_topics(topic, timeout=CONNECT_TIMEOUT)
    last: dict[int, int] = {}
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

    key = graph.encode()
    sent = count = unreported = 0
    start = reported = time.perf_counter()
    for value, n in encode_records(graph, updates, records, per_record):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        producer.poll(0)
        sent += n
        count += 1
        unreported += n
        now = time.perf_counter()
        if progress is not None and now - reported > 0.1:
            progress(unreported)
            unreported, reported = 0, now
        if rate and sent / rate > now - start:
            time.sleep(sent / rate - (now - start))
    if progress is not None and unreported:
        progress(unreported)
    if producer.flush(120) > 0 or errors:
        raise KafkaException(f"not every record was delivered: {errors[:3]}")
    return ProduceReport(count, sent, time.perf_counter() - start, last)
