"""Shared fixtures: the real Kafka broker for integration tests, unique names per test, and
kappa checks run in the test's own process."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from sparsiflow.connector.kafka.devbroker import BrokerError, LocalKafka, wait_for_broker
from sparsiflow.engine.quality import keeper as keeper_module


def _docker_engine_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        docker.from_env(timeout=3).ping()
    except Exception:  # no socket, no daemon, no permission: all mean "no engine here"
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker.

    Order: ``KAFKA_BOOTSTRAP_SERVERS``; else testcontainers' Kafka when a Docker engine answers;
    else a local single-node KRaft broker from the Apache Kafka jars. Never skips: when no broker
    can be had the requesting tests fail with the reason.
    """
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        try:
            wait_for_broker(given, timeout=30)
        except BrokerError as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={given} is set but unusable: {exc}")
        yield given
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalKafka(workdir=tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except BrokerError as exc:
        pytest.fail(f"no Kafka broker could be started for the integration tests: {exc}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def checks_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kappa checks run here, at once, not in the checks' process: for tests that stand in for
    parts of a check (monkeypatching reaches only this process)."""

    def submit(job: keeper_module._Job) -> Future[keeper_module._Outcome]:
        future: Future[keeper_module._Outcome] = Future()
        future.set_result(keeper_module._run(job))
        return future

    monkeypatch.setattr(keeper_module, "_submit", submit)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Topic/group names unique to this test: ``unique_name("in")`` -> ``t-<test>-in-<hex>``."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")

    def make(suffix: str) -> str:
        return f"t-{stem}-{suffix}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def create_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a topic with N partitions on the test broker and return its name."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def make(name: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
        )
        futures[name].result(timeout=30)
        return name

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as ``integration`` (the folder is the rule);
    skip ``gpu`` tests where no CUDA device is usable through CuPy (the only allowed skip)."""
    from sparsiflow.engine.walks.backends import cupy_usable

    root = Path(__file__).parent / "integration"
    no_gpu = pytest.mark.skip(reason="no usable CUDA device through CuPy (sparsiflow[gpu])")
    gpu_ok: bool | None = None
    for item in items:
        if root in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("gpu") is not None:
            gpu_ok = cupy_usable() if gpu_ok is None else gpu_ok
            if not gpu_ok:
                item.add_marker(no_gpu)
