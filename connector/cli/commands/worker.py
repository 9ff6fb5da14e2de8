"""``sparsiflow worker``: run the Faust stream processor.

Every setting of the worker has a flag here (the environment variable it overrides and its
default are shown in ``--help``), except the broker credentials, which stay in the environment
so that they do not show in process lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import (
    SettingOption,
    TargetKappa,
    kafka_options,
    setting_option,
)
from sparsiflow.connector.stream.ownership import PARTITIONERS
from sparsiflow.engine.config import BACKENDS, MODES

__all__ = ["command"]

_CONCERNS = {
    "KafkaSettings": "kafka",
    "TopicSettings": "topics",
    "BatchSettings": "batch",
    "CheckpointSettings": "checkpoint",
    "RecordLimitSettings": "records",
    "EngineSettings": "engine",
    "WorkerSettings": "worker",
}
_FOLDER = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_FLAGS: tuple[tuple[str, str, str, Any], ...] = (
    ("--security-protocol", "KafkaSettings.security_protocol", "broker protocol",
     click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])),
    ("--sasl-mechanism", "KafkaSettings.sasl_mechanism", "SASL mechanism",
     click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])),
    ("--sasl-username", "KafkaSettings.sasl_username", "SASL user (password: env only)", str),
    ("--ssl-cafile", "KafkaSettings.ssl_cafile", "CA certificate file", _FILE),
    ("--ssl-certfile", "KafkaSettings.ssl_certfile", "client certificate file", _FILE),
    ("--ssl-keyfile", "KafkaSettings.ssl_keyfile", "client key file", _FILE),
    ("--client-id", "KafkaSettings.client_id", "Kafka client id", str),
    ("--partitions", "TopicSettings.topic_partitions", "partitions of topics created", int),
    ("--replication-factor", "TopicSettings.topic_replication_factor",
     "replication of topics created", int),
    ("--partitioner", "TopicSettings.partitioner",
     "input producers' partitioner: a graph belongs to the partition its id hashes to",
     click.Choice(PARTITIONERS)),
    ("--group-id", "WorkerSettings.group_id", "consumer group, one per deployment", str),
    ("--metrics-port", "WorkerSettings.metrics_port", "port of /metrics, 0 for any free one", int),
    ("--state-dir", "WorkerSettings.state_dir", "folder for checkpoints", _FOLDER),
    ("--allowed-graphs", "WorkerSettings.allowed_graphs", "graph ids served, comma-separated",
     str),
    ("--max-graphs", "WorkerSettings.max_graphs", "most graphs held in memory", int),
    ("--graph-idle-seconds", "WorkerSettings.graph_idle_seconds",
     "evict a graph idle this long to the state dir, 0 never", float),
    ("--session-timeout", "WorkerSettings.session_timeout", "seconds before the group moves on",
     float),
    ("--buffer-records", "WorkerSettings.buffer_records", "records fetched ahead per partition",
     int),
    ("--pause-pending-updates", "WorkerSettings.pause_pending_updates",
     "pause a partition with this many updates waiting", int),
    ("--transactions", "WorkerSettings.transactions",
     "publish each batch in a Kafka transaction (fences frozen workers)", click.BOOL),
    ("--batch-max-size", "BatchSettings.max_size", "updates per micro-batch", int),
    ("--batch-max-wait", "BatchSettings.max_wait", "seconds a batch waits", float),
    ("--checkpoint-every-batches", "CheckpointSettings.every_batches",
     "batches between checkpoints", int),
    ("--checkpoint-every-seconds", "CheckpointSettings.every_seconds",
     "seconds between checkpoints", float),
    ("--checkpoint-keep", "CheckpointSettings.keep", "checkpoints kept per graph", int),
    ("--record-max-bytes", "RecordLimitSettings.max_bytes", "largest input record", int),
    ("--record-max-updates", "RecordLimitSettings.max_updates", "most updates per record", int),
    ("--mode", "EngineSettings.mode", "engine mode", click.Choice(MODES)),
    ("--target-kappa", "EngineSettings.target_kappa", "kappa held per graph, 'off' to measure only",
     TargetKappa(keep_off=True)),
    ("--kappa-change", "EngineSettings.kappa_change",
     "share of G's edges updated between kappa checks, 0 for none", float),
    ("--control-rounds", "EngineSettings.control_rounds", "recovery rounds per check", int),
    ("--bulk-growth", "EngineSettings.bulk_growth",
     "a batch adding this many times G's edges builds H at once, 0 never", float),
    ("--threshold", "EngineSettings.threshold", "local rule's K (none: target / 4)", float),
    ("--walkers", "EngineSettings.walkers", "walkers per update (dygrass mode)", int),
    ("--max-steps", "EngineSettings.max_steps", "steps per walker", int),
    ("--repair-discount", "EngineSettings.repair_discount", "cost of H edges in repairs", float),
    ("--repair-lowered", "EngineSettings.repair_lowered",
     "repair an H edge lowered to this share of its weight, 0 never", float),
    ("--parallel-paths", "EngineSettings.parallel_paths", "paths combined per test", int),
    ("--seed", "EngineSettings.seed", "RNG seed", int),
    ("--backend", "EngineSettings.backend", "walk backend", click.Choice(BACKENDS)),
    ("--threads", "EngineSettings.threads", "threads for the read-only batch phases", int),
)  # fmt: skip


def _setting_flags(command: Any) -> Any:
    for flag, setting, text, kind in reversed(_FLAGS):
        command = setting_option(flag, setting, text, type=kind)(command)
    return command


@click.command("worker")
@kafka_options
@_setting_flags
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="sparsiflow's log lines (info: ready and progress lines); Faust, mode and aiokafka "
    "log warnings and errors only, unless debug",
)
@click.pass_context
def command(ctx: click.Context, /, log_level: str, **params: Any) -> None:
    """Run the stream processor until SIGTERM or SIGINT."""
    from confluent_kafka import KafkaException

    from sparsiflow.connector.cli.errors import kafka_error, load_settings
    from sparsiflow.connector.kafka.preflight import StartError
    from sparsiflow.connector.kafka.worker import run_worker

    overrides: dict[str, dict[str, Any]] = {concern: {} for concern in _CONCERNS.values()}
    for param in ctx.command.params:
        if isinstance(param, SettingOption) and param.name is not None:
            owner, field = param.setting.split(".")
            overrides[_CONCERNS[owner]][field] = params[param.name]
    settings = load_settings(**overrides)
    try:
        status = run_worker(settings, loglevel=log_level)
    except StartError as exc:  # state dir, TLS files, broker: one line, within seconds
        raise click.ClickException(str(exc)) from None
    except KafkaException as exc:  # e.g. creating the topics was refused
        raise kafka_error(exc, settings.kafka.bootstrap_servers) from None
    raise SystemExit(status)
