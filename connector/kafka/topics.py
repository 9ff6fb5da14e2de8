"""Create the connector's topics when missing, with the configured partitions (before any
client subscribes, so no consumer group ever sees a topic appear under it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sparsiflow.connector.settings import ClientConfigs, TopicSettings

__all__ = [
    "KAFKA_DEFAULT_MESSAGE_BYTES",
    "MAX_OUTPUT_BYTES",
    "accepted_bytes",
    "ensure_topics",
    "partition_count",
]

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 16 * 2**20
"""Largest output record (a first delta of a big graph is large); set on output topics, and the
producer's largest request."""
KAFKA_DEFAULT_MESSAGE_BYTES = 1_048_588
"""Kafka's default ``message.max.bytes``: assumed for a topic whose limit cannot be read."""


def ensure_topics(
    configs: ClientConfigs, topics: TopicSettings, names: Iterable[str] | None = None
) -> list[str]:
    """Create those of ``names`` (default: every topic of ``topics``) that do not exist; return
    them. The current-H topic is compacted."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    wanted = list(names) if names is not None else _all(topics)
    admin = AdminClient(configs.librdkafka)
    existing = set(admin.list_topics(timeout=30).topics)
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    outputs = {topics.deltas_topic, topics.metrics_topic, topics.dlq_topic}
    configs_of = {name: {"max.message.bytes": str(MAX_OUTPUT_BYTES)} for name in outputs}
    configs_of[topics.edges_topic] = {"cleanup.policy": "compact"}
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=topics.topic_partitions,
                replication_factor=topics.topic_replication_factor,
                config=configs_of.get(name, {}),
            )
            for name in missing
        ]
    )
    for future in futures.values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # created meanwhile by another client: fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return missing


def accepted_bytes(configs: ClientConfigs, topic: str) -> int:
    """The largest record batch the worker can write to the existing ``topic``: its
    ``max.message.bytes`` as the broker reports it (the topic's own or the broker's default), at
    most :data:`MAX_OUTPUT_BYTES`. When the broker does not say (e.g. DescribeConfigs is not
    allowed), :data:`KAFKA_DEFAULT_MESSAGE_BYTES`, with a warning."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient(configs.librdkafka)  # held until the answer: its end fails the future
    try:
        future = admin.describe_configs([resource])[resource]
        limit = int(future.result(timeout=30)["max.message.bytes"].value)
    except Exception as exc:  # not allowed, or an old broker: assume Kafka's default
        log.warning(
            "max.message.bytes of topic %r not readable (%s); assuming %d",
            topic, exc, KAFKA_DEFAULT_MESSAGE_BYTES,
        )  # fmt: skip
        limit = KAFKA_DEFAULT_MESSAGE_BYTES
    return min(limit, MAX_OUTPUT_BYTES)


def partition_count(configs: ClientConfigs, topic: str) -> int:
    """Partitions of an existing ``topic``."""
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(configs.librdkafka).list_topics(topic, timeout=30).topics[topic]
    if meta.error is not None:
        raise RuntimeError(f"topic {topic!r}: {meta.error}")
    return len(meta.partitions)


def _all(topics: TopicSettings) -> list[str]:
    names = [topics.input_topic, topics.deltas_topic, topics.metrics_topic, topics.dlq_topic]
    return [*names, topics.edges_topic] if topics.edges_topic else names
