"""Read a topic from given offsets (default: every partition from its start) with a plain
confluent-kafka consumer (no group, nothing committed): what downstream readers, tests and
benchmarks read the output topics with."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from sparsiflow.connector.kafka.log_reader import high_watermark
from sparsiflow.connector.kafka.reader_config import reader_config

__all__ = ["MissingTopicError", "read_topic", "topic_partitions"]


class MissingTopicError(RuntimeError):
    """The topic does not exist (or its metadata cannot be had)."""


_BATCH = 10_000  # records fetched from the client's queue per call


def topic_partitions(config: dict[str, Any], topic: str) -> int:
    """Partitions of ``topic`` (MissingTopicError when it does not exist)."""
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(config).list_topics(topic, timeout=30).topics[topic]
    if meta.error is not None:
        raise MissingTopicError(f"topic {topic!r}: {meta.error}")
    return len(meta.partitions)


def read_topic(
    config: dict[str, Any],
    topic: str,
    until_idle: float | None = None,
    poll: float = 0.2,
    start: Mapping[int, int] | None = None,
) -> Iterator[Any]:
    """Records of ``topic``, partition by partition in order: of the partitions in ``start``
    from their given offsets, else of every partition from its start.

    Reads committed records only (the outputs are written in transactions). Stops at the end
    offsets seen when it starts (the last stable offsets: a transaction marker may be the last
    offset, so a partition's end is known by its end-of-partition event), or, with
    ``until_idle``, once no record came for that many seconds after reaching them. Raises
    MissingTopicError for a missing topic.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(reader_config(config, "sparsiflow-reader"))
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        if meta.error is not None:
            raise MissingTopicError(f"topic {topic!r}: {meta.error}")
        offsets = dict(start) if start is not None else dict.fromkeys(meta.partitions, -1)
        parts = [
            TopicPartition(topic, p, OFFSET_BEGINNING if at < 0 else at)
            for p, at in offsets.items()
        ]
        ends = {tp.partition: high_watermark(consumer, topic, tp.partition, 30.0) for tp in parts}
        consumer.assign(parts)
        pending = {p for p, end in ends.items() if end > max(offsets[p], 0)}
        last = time.monotonic()
        while pending or (until_idle is not None and time.monotonic() - last < until_idle):
            for msg in consumer.consume(_BATCH, poll):  # a call per record costs more than it
                error, partition = msg.error(), int(msg.partition() or 0)
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic!r}: {error}")
                    pending.discard(partition)
                    continue
                last = time.monotonic()
                if int(msg.offset() or 0) >= ends[partition] - 1:
                    pending.discard(partition)
                yield msg
    finally:
        consumer.close()
