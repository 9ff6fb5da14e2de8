"""The one configuration every confluent-kafka reader of the project starts from: recovery's
log reader, :func:`~sparsiflow.connector.kafka.topic_reader.read_topic` (``materialize``, the
downstream client, the benchmarks) and the demo's follower."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["FETCH_QUEUE_BACKOFF_MS", "reader_config"]

FETCH_QUEUE_BACKOFF_MS = 10
"""librdkafka's ``fetch.queue.backoff.ms`` for readers (its default: 1000).

When a partition's local queue holds ``queued.min.messages`` (100,000) records or
``queued.max.messages.kbytes`` (64 MiB), librdkafka stops fetching it for this long, so a
reader that drains the queue within a second sits idle for the rest of it every 100,000 small
records: 500,000 took 3.4 s at 1000 ms, 0.75 s at 10 ms (2-core VM, ``make bench-readers``).
1 ms was no faster, and it re-checks a full queue ten times as often while a slower reader
(recovery's replay) keeps it full."""


def reader_config(config: Mapping[str, Any], group: str) -> dict[str, Any]:
    """``config`` (librdkafka properties, e.g. ``client_configs(...).librdkafka``) for a
    reader: a consumer group of its own (``group`` and a random suffix) that commits nothing,
    reads committed records only (the workers' outputs are transactional), reports each
    partition's end (``_PARTITION_EOF``) and fetches without librdkafka's 1 s stalls
    (:data:`FETCH_QUEUE_BACKOFF_MS`). A ``fetch.queue.backoff.ms`` in ``config`` wins (the
    benchmark measures librdkafka's default so); callers add what only they need."""
    return {
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        **config,
        "group.id": f"{group}-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
    }
