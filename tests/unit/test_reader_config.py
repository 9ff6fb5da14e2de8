"""Every confluent-kafka reader fetches with the readers' ``fetch.queue.backoff.ms`` (not
librdkafka's 1 s default): the shared config, the consumers recovery's log reader and
``read_topic`` open (a fake ``Consumer`` records them), and no module builds a consumer
without it."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import confluent_kafka
import pytest

from sparsiflow.connector.kafka.log_reader import KafkaLogReader
from sparsiflow.connector.kafka.reader_config import FETCH_QUEUE_BACKOFF_MS, reader_config
from sparsiflow.connector.kafka.topic_reader import read_topic

REPO = Path(__file__).resolve().parents[2]
BACKOFF = "fetch.queue.backoff.ms"


class FakeConsumer:
    """Records its config; a topic of one empty partition."""

    configs: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.configs.append(config)

    def list_topics(self, topic: str, timeout: float) -> Any:
        meta = SimpleNamespace(error=None, partitions={0: None})
        return SimpleNamespace(topics={topic: meta})

    def get_watermark_offsets(self, tp: Any, timeout: float, cached: bool) -> tuple[int, int]:
        return 0, 0

    def assign(self, parts: Any) -> None:
        pass

    def consume(self, count: int, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr(FakeConsumer, "configs", [])
    monkeypatch.setattr(confluent_kafka, "Consumer", FakeConsumer)
    return FakeConsumer.configs


def test_reader_config_sets_the_backoff_and_a_group_of_its_own() -> None:
    a, b = reader_config({"bootstrap.servers": "b:9092"}, "x"), reader_config({}, "x")
    assert a[BACKOFF] == FETCH_QUEUE_BACKOFF_MS < 1000
    assert a["bootstrap.servers"] == "b:9092"
    assert a["group.id"].startswith("x-") and a["group.id"] != b["group.id"]
    assert a["enable.auto.commit"] is False and a["isolation.level"] == "read_committed"


def test_the_callers_backoff_wins_the_readers_own_keys_do_not() -> None:
    config = reader_config({BACKOFF: 1000, "isolation.level": "read_uncommitted"}, "x")
    assert config[BACKOFF] == 1000  # what the benchmark measures as "before"
    assert config["isolation.level"] == "read_committed"


def test_recovery_reader_consumers_carry_the_backoff(consumers: list[dict[str, Any]]) -> None:
    reader = KafkaLogReader({"bootstrap.servers": "b:9092"})
    assert reader.end_offset("t", 0) == 0  # opens both its consumers
    reader.close()
    assert len(consumers) == 2
    assert all(c[BACKOFF] == FETCH_QUEUE_BACKOFF_MS for c in consumers)


def test_read_topic_consumer_carries_the_backoff(consumers: list[dict[str, Any]]) -> None:
    assert list(read_topic({"bootstrap.servers": "b:9092"}, "t")) == []
    assert [c[BACKOFF] for c in consumers] == [FETCH_QUEUE_BACKOFF_MS]


def _names_consumer(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom) and node.module == "confluent_kafka":
        return any(alias.name == "Consumer" for alias in node.names)
    if isinstance(node, ast.Attribute) and node.attr == "Consumer":
        return getattr(node.value, "id", None) == "confluent_kafka"
    return False


def _builds_consumer(tree: ast.AST) -> bool:
    """Imports confluent-kafka's ``Consumer`` (or names ``confluent_kafka.Consumer``)."""
    return any(_names_consumer(node) for node in ast.walk(tree))


def test_every_module_that_builds_a_consumer_uses_reader_config() -> None:
    """In the code, the benchmarks and the scripts (the tests' consumers read offsets only)."""
    modules = [p for d in ("connector", "bench", "scripts") for p in (REPO / d).rglob("*.py")]
    builders = [p for p in modules if _builds_consumer(ast.parse(p.read_text()))]
    assert builders  # the check sees the readers
    missing = [str(p.relative_to(REPO)) for p in builders if "reader_config(" not in p.read_text()]
    assert missing == []
