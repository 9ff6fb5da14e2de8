"""Read partitions of topics by offset with a plain Kafka consumer (no group, no commits):
the :class:`sparsiflow.connector.recovery.restorer.LogReader` the worker recovers with, and the
high-watermark read every reader of a topic starts from. Blocking: call from a worker thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from sparsiflow.connector.kafka.reader_config import reader_config
from sparsiflow.connector.recovery.restorer import LogRecord

__all__ = ["KafkaLogReader", "high_watermark"]


def high_watermark(consumer: Any, topic: str, partition: int, timeout: float) -> int:
    """The partition's end read by a confluent-kafka consumer, retrying for up to ``timeout``
    seconds while a new topic's leader is being elected: for a ``read_committed`` consumer
    (librdkafka's default) its last stable offset, below any open transaction; else its high
    watermark (the next offset). Either may follow a transaction marker rather than a record:
    a reader knows it reached the end by ``_PARTITION_EOF`` (its position then equals it),
    not by the offset of a record."""
    from confluent_kafka import KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    while True:
        try:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout, cached=False
            )
            return int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class KafkaLogReader:
    """A :class:`~sparsiflow.connector.recovery.restorer.LogReader` over one confluent-kafka
    consumer."""

    def __init__(self, config: dict[str, Any], timeout: float = 60.0) -> None:
        self._config = {
            **reader_config(config, "sparsiflow-recovery"),
            "auto.offset.reset": "error",  # records gone (retention) must not pass unnoticed
            "fetch.wait.max.ms": 50,
        }
        self._timeout = timeout
        self._consumer: Any = None
        self._uncommitted: Any = None
        self._known: set[str] = set()  # topics whose metadata the consumer holds

    def _client(self) -> Any:
        if self._consumer is None:
            from confluent_kafka import Consumer

            self._consumer = Consumer(self._config)
        return self._consumer

    def end_offset(self, topic: str, partition: int) -> int:
        """Where the partition's committed records end, retrying while a new topic's leader is
        being elected: its last stable offset (what a ``read_committed`` consumer reads to),
        once that has reached the high watermark seen first. Transactions open then (another
        input partition's writer sharing the delta partition; a frozen one's is aborted by
        the broker after its transaction timeout) are waited for: a record committed after
        their start lies above the last stable offset until they end. Raises TimeoutError when
        it has not within the reader's timeout: a shorter read could miss committed deltas."""
        high = high_watermark(self._watermarks(), topic, partition, self._timeout)
        deadline = time.monotonic() + self._timeout
        while True:
            stable = high_watermark(self._client(), topic, partition, self._timeout)
            if stable >= high:
                return stable
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{topic}[{partition}]: an open transaction held its last stable offset at "
                    f"{stable}, below {high}, for {self._timeout:.0f} s"
                )
            time.sleep(0.05)

    def _watermarks(self) -> Any:
        """A ``read_uncommitted`` consumer: its high watermark is the log's end."""
        if self._uncommitted is None:
            from confluent_kafka import Consumer

            self._uncommitted = Consumer({**self._config, "isolation.level": "read_uncommitted"})
        return self._uncommitted

    def start_offset(self, topic: str, partition: int) -> int:
        """Low watermark: the first offset still in the log."""
        from confluent_kafka import TopicPartition

        low, _ = self._client().get_watermark_offsets(
            TopicPartition(topic, partition), timeout=self._timeout, cached=False
        )
        return int(low)

    def read(self, topic: str, partition: int, start: int, end: int) -> Iterator[LogRecord]:
        """Records with offsets in ``[start, end)``; fails if they stop arriving."""
        from confluent_kafka import KafkaError, TopicPartition

        if start >= end:
            return
        consumer = self._client()
        if topic not in self._known:  # else a topic new to it waits for librdkafka's 1 s scan
            consumer.list_topics(topic, timeout=self._timeout)
            self._known.add(topic)
        consumer.assign([TopicPartition(topic, partition, start)])
        try:
            last = time.monotonic()
            while True:
                msg = consumer.poll(0.1)
                if msg is None:
                    if time.monotonic() - last > self._timeout:
                        raise TimeoutError(f"reading {topic}[{partition}] stalled before {end}")
                    continue
                last = time.monotonic()
                if msg.topic() != topic or msg.partition() != partition:
                    continue  # fetched for an earlier assignment
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if int(msg.offset()) >= end:
                            return  # past a marker that ends the range
                        continue  # an end reached before (an earlier read): read on
                    raise RuntimeError(f"reading {topic}[{partition}]: {error}")
                offset = int(msg.offset())
                if offset < start:
                    continue
                if offset >= end:
                    return
                yield LogRecord(offset, msg.key(), msg.value(), list(msg.headers() or ()))
                if offset == end - 1:
                    return
        finally:
            consumer.unassign()

    def close(self) -> None:
        """Close the consumer (if one was opened)."""
        for consumer in (self._consumer, self._uncommitted):
            if consumer is not None:
                consumer.close()
        self._consumer = self._uncommitted = None
        self._known.clear()
