"""Settings from the environment and the one conversion to client configurations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sparsiflow.connector.settings import (
    BatchSettings,
    EngineSettings,
    KafkaSettings,
    RecordLimitSettings,
    TopicSettings,
    WorkerSettings,
    client_configs,
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in os.environ:
        if name.startswith("SPARSIFLOW_") and name != "SPARSIFLOW_CACHE_DIR":
            monkeypatch.delenv(name)


def test_defaults_follow_the_design() -> None:
    topics = TopicSettings()
    assert (topics.input_topic, topics.deltas_topic, topics.metrics_topic, topics.dlq_topic) == (
        "sparsiflow.edge-updates",
        "sparsiflow.sparsifier-deltas",
        "sparsiflow.quality-metrics",
        "sparsiflow.edge-updates.dlq",
    )
    assert KafkaSettings().bootstrap_servers == "localhost:9092"
    assert WorkerSettings().metrics_port == 9108


def test_environment_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARSIFLOW_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SPARSIFLOW_INPUT_TOPIC", "in")
    monkeypatch.setenv("SPARSIFLOW_BATCH_MAX_WAIT", "0.2")
    monkeypatch.setenv("SPARSIFLOW_ENGINE_MODE", "dygrass")
    monkeypatch.setenv("SPARSIFLOW_ALLOWED_GRAPHS", "g1, g2")
    monkeypatch.setenv("SPARSIFLOW_RECORD_MAX_UPDATES", "500")
    assert TopicSettings().input_topic == "in"
    assert TopicSettings(input_topic="flag").input_topic == "flag"  # a flag beats the env
    assert BatchSettings().max_wait == 0.2
    assert EngineSettings().config().mode == "dygrass"
    assert WorkerSettings().allowed_graphs == {"g1", "g2"}
    assert RecordLimitSettings().limits().max_record_updates == 500
    configs = client_configs(KafkaSettings())
    assert configs.faust_broker == "kafka://k1:9092;kafka://k2:9092"
    assert configs.librdkafka["bootstrap.servers"] == "k1:9092,k2:9092"
    assert configs.faust_credentials is None


def test_settings_are_frozen_and_validated() -> None:
    s = BatchSettings()
    with pytest.raises(ValidationError):
        s.max_size = 3
    for bad in ({"max_size": 0}, {"max_wait": 0}):
        with pytest.raises(ValidationError):
            BatchSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WorkerSettings(allowed_graphs="ok,not/ok")
    with pytest.raises(ValidationError):
        KafkaSettings(security_protocol="SASL_SSL")  # no credentials
    with pytest.raises(ValidationError):
        RecordLimitSettings(max_updates=10**6)


def test_sasl_ssl_configs_keep_the_secret_out_of_reprs() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2",
    )
    assert "hunter2" not in repr(kafka) and "hunter2" not in str(kafka.model_dump())
    configs = client_configs(kafka)
    assert configs.librdkafka["security.protocol"] == "sasl_ssl"
    assert configs.librdkafka["sasl.mechanism"] == "SCRAM-SHA-512"
    assert configs.librdkafka["sasl.password"] == "hunter2"
    creds = configs.faust_credentials
    assert type(creds).__name__ == "SASLCredentials"
    assert getattr(creds, "ssl_context", None) is not None


def test_ssl_only() -> None:
    configs = client_configs(KafkaSettings(security_protocol="SSL"))
    assert type(configs.faust_credentials).__name__ == "SSLCredentials"
    assert "sasl.username" not in configs.librdkafka
