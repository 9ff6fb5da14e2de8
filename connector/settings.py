"""Typed settings, one frozen class per concern, read from ``SPARSIFLOW_*`` environment variables
(constructor arguments win, e.g. command-line flags), and the one place that turns the Kafka
settings into client configurations (librdkafka dict, Faust broker URL and credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sparsiflow.connector.stream.ownership import Partitioner
from sparsiflow.connector.wire.edge_updates import MAX_RECORD_UPDATES, DecodeLimits, is_graph_id
from sparsiflow.engine.config import Backend, EngineConfig, Mode

__all__ = [
    "OFF",
    "BatchSettings",
    "CheckpointSettings",
    "ClientConfigs",
    "EngineSettings",
    "KafkaSettings",
    "RecordLimitSettings",
    "Settings",
    "TopicSettings",
    "WorkerSettings",
    "client_configs",
]

_ENGINE_DEFAULTS = EngineConfig()
OFF = "off"
"""The value that turns ``target_kappa`` off (environment, flags, Helm)."""


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="forbid")


class KafkaSettings(BaseSettings):
    """Broker connection: ``SPARSIFLOW_BOOTSTRAP_SERVERS``, ``SPARSIFLOW_SECURITY_PROTOCOL``, ..."""

    model_config = _config("SPARSIFLOW_")

    bootstrap_servers: str = "localhost:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    client_id: str = "sparsiflow"

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError(f"{self.security_protocol} needs sasl_username and sasl_password")
        return self

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")


class TopicSettings(BaseSettings):
    """Topic names (``SPARSIFLOW_INPUT_TOPIC``, ...) and how missing ones are created.
    ``edges_topic``: the compacted current-H topic (empty: not written). ``partitioner``
    (``SPARSIFLOW_PARTITIONER``): the input topic's producers' partitioner, which decides the
    partition owning each graph: ``murmur2`` (Kafka's Java default, librdkafka's
    ``murmur2_random``, ``sparsiflow produce``) or ``crc32`` (librdkafka's default,
    ``consistent_random``)."""

    model_config = _config("SPARSIFLOW_")

    input_topic: str = "sparsiflow.edge-updates"
    deltas_topic: str = "sparsiflow.sparsifier-deltas"
    metrics_topic: str = "sparsiflow.quality-metrics"
    dlq_topic: str = "sparsiflow.edge-updates.dlq"
    edges_topic: str = "sparsiflow.sparsifier-edges"
    topic_partitions: int = Field(6, ge=1, le=10_000)
    topic_replication_factor: int = Field(1, ge=1, le=16)
    partitioner: Partitioner = "murmur2"


class BatchSettings(BaseSettings):
    """Micro-batching per graph: ``SPARSIFLOW_BATCH_MAX_SIZE`` updates or
    ``SPARSIFLOW_BATCH_MAX_WAIT`` seconds after a batch's first record, whichever comes first."""

    model_config = _config("SPARSIFLOW_BATCH_")

    max_size: int = Field(10_000, ge=1)
    max_wait: float = Field(0.05, gt=0, le=3600)


class RecordLimitSettings(BaseSettings):
    """Per-record input limits (``SPARSIFLOW_RECORD_MAX_BYTES``, ``..._MAX_UPDATES``)."""

    model_config = _config("SPARSIFLOW_RECORD_")

    max_bytes: int = Field(8 * 2**20, ge=64)
    max_updates: int = Field(MAX_RECORD_UPDATES, ge=1, le=MAX_RECORD_UPDATES)

    def limits(self) -> DecodeLimits:
        return DecodeLimits(max_record_bytes=self.max_bytes, max_record_updates=self.max_updates)


class EngineSettings(BaseSettings):
    """Engine parameters per graph (``SPARSIFLOW_ENGINE_MODE``, ...); see ``EngineConfig``.
    ``target_kappa``: a number > 1, or ``off`` (checks only measure kappa)."""

    model_config = _config("SPARSIFLOW_ENGINE_")

    mode: Mode = _ENGINE_DEFAULTS.mode
    target_kappa: float | None = Field(_ENGINE_DEFAULTS.target_kappa, gt=1)
    kappa_change: float = Field(_ENGINE_DEFAULTS.kappa_change, ge=0, le=1)
    control_rounds: int = Field(_ENGINE_DEFAULTS.control_rounds, ge=1)
    bulk_growth: float = Field(_ENGINE_DEFAULTS.bulk_growth, ge=0)
    threshold: float | None = Field(_ENGINE_DEFAULTS.threshold, gt=0)
    walkers: int = Field(_ENGINE_DEFAULTS.walkers, ge=1)
    max_steps: int = Field(_ENGINE_DEFAULTS.max_steps, ge=1)
    repair_discount: float = Field(_ENGINE_DEFAULTS.repair_discount, gt=0, le=1)
    repair_lowered: float = Field(_ENGINE_DEFAULTS.repair_lowered, ge=0, le=1)
    parallel_paths: int = Field(_ENGINE_DEFAULTS.parallel_paths, ge=1)
    seed: int = _ENGINE_DEFAULTS.seed
    backend: Backend = _ENGINE_DEFAULTS.backend
    threads: int = Field(_ENGINE_DEFAULTS.threads, ge=1)

    @field_validator("target_kappa", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == OFF else value

    def config(self) -> EngineConfig:
        return EngineConfig(**self.model_dump())


class CheckpointSettings(BaseSettings):
    """Checkpoints in the state folder (``SPARSIFLOW_CHECKPOINT_EVERY_BATCHES``, ...): a round
    per input partition after ``every_batches`` batches or ``every_seconds`` seconds, whichever
    comes first; the newest ``keep`` files of each graph are kept."""

    model_config = _config("SPARSIFLOW_CHECKPOINT_")

    every_batches: int = Field(100, ge=1)
    every_seconds: float = Field(30.0, gt=0)
    keep: int = Field(3, ge=1, le=100)


class WorkerSettings(BaseSettings):
    """The worker process: group, ``/metrics`` port, checkpoint folder, which graphs it serves.

    ``allowed_graphs``: comma-separated graph ids (``SPARSIFLOW_ALLOWED_GRAPHS``); empty means
    any. ``max_graphs``: the most graphs one worker holds in memory; records of further new
    graphs go to the DLQ (``too_many_graphs``). ``graph_idle_seconds``: a graph without
    records for this long is evicted to the state folder and reloaded by its next record (0:
    never; needs ``state_dir``).
    ``session_timeout``: seconds before the group gives a silent worker's partitions to
    others. ``buffer_records``: most records fetched at once (handed to the processor as one
    list per partition). ``pause_pending_updates``: pause fetching a partition while this many
    of its updates wait in open batches (resumed at half). ``transactions``
    (``SPARSIFLOW_TRANSACTIONS``, default true): publish each batch's delta, metrics event and
    current-H records in one Kafka transaction of the input partition's only writer (see
    :mod:`sparsiflow.connector.kafka.transactions`); false: the old path, where a worker frozen
    past the session timeout may publish a delta its partition's new owner also computes.
    """

    model_config = _config("SPARSIFLOW_")

    group_id: str = "sparsiflow"
    metrics_port: int = Field(9108, ge=0, le=65535)
    state_dir: Path | None = None
    allowed_graphs: Annotated[frozenset[str], NoDecode] = frozenset()
    max_graphs: int = Field(1000, ge=1)
    graph_idle_seconds: float = Field(600.0, ge=0)
    session_timeout: float = Field(60.0, ge=1, le=3600)
    buffer_records: int = Field(4096, ge=1)
    pause_pending_updates: int = Field(1_000_000, ge=2)
    transactions: bool = True

    @field_validator("allowed_graphs", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        bad = [g for g in value if not is_graph_id(g)]
        if bad:
            raise ValueError(f"invalid graph id(s): {bad}")
        return frozenset(value)


@dataclass(frozen=True)
class Settings:
    """Every concern's settings for one process."""

    kafka: KafkaSettings
    topics: TopicSettings
    batch: BatchSettings
    checkpoint: CheckpointSettings
    records: RecordLimitSettings
    engine: EngineSettings
    worker: WorkerSettings

    @classmethod
    def load(cls, **overrides: dict[str, Any]) -> Settings:
        """Read the environment; ``overrides`` per concern (e.g. ``topics={"input_topic": ...}``,
        from command-line flags) win, and None values among them are ignored."""
        kinds = {
            "kafka": KafkaSettings,
            "topics": TopicSettings,
            "batch": BatchSettings,
            "checkpoint": CheckpointSettings,
            "records": RecordLimitSettings,
            "engine": EngineSettings,
            "worker": WorkerSettings,
        }
        unknown = overrides.keys() - kinds.keys()
        if unknown:
            raise TypeError(f"unknown settings concern(s): {sorted(unknown)}")
        built = {
            name: kind(**{k: v for k, v in overrides.get(name, {}).items() if v is not None})
            for name, kind in kinds.items()
        }
        return cls(**built)


@dataclass(frozen=True)
class ClientConfigs:
    """Client configurations derived from one :class:`KafkaSettings`.

    ``librdkafka``: confluent-kafka / kcat properties. ``faust_broker``: Faust's ``broker``
    URL. ``faust_credentials``: a ``faust.auth`` credentials object, or None for PLAINTEXT.
    """

    librdkafka: dict[str, str | int | float | bool]
    faust_broker: str
    faust_credentials: object | None


def client_configs(kafka: KafkaSettings) -> ClientConfigs:
    """Build every client's configuration from the Kafka settings (the only place that does)."""
    conf: dict[str, str | int | float | bool] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol.lower(),
        "client.id": kafka.client_id,
    }
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_username is not None and kafka.sasl_password is not None
        conf |= {
            "sasl.mechanism": kafka.sasl_mechanism,
            "sasl.username": kafka.sasl_username,
            "sasl.password": kafka.sasl_password.get_secret_value(),
        }
    ssl_files = {
        "ssl.ca.location": kafka.ssl_cafile,
        "ssl.certificate.location": kafka.ssl_certfile,
        "ssl.key.location": kafka.ssl_keyfile,
    }
    conf |= {k: str(v) for k, v in ssl_files.items() if kafka.uses_ssl and v is not None}
    if kafka.uses_ssl and kafka.ssl_key_password is not None:
        conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    hosts = [h.strip() for h in kafka.bootstrap_servers.split(",") if h.strip()]
    broker = ";".join(f"kafka://{h}" for h in hosts)
    return ClientConfigs(conf, broker, _faust_credentials(kafka))


def _faust_credentials(kafka: KafkaSettings) -> object | None:
    if kafka.security_protocol == "PLAINTEXT":
        return None
    import faust
    from aiokafka.helpers import create_ssl_context

    context = None
    if kafka.uses_ssl:
        context = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
            password=kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None,
        )
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    assert kafka.sasl_username is not None and kafka.sasl_password is not None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        ssl_context=context,
        mechanism=kafka.sasl_mechanism,
    )
