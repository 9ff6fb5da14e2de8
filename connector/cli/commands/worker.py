"""``sparsiflow worker``: run the Faust stream processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import kafka_options, kafka_overrides, setting_option
from sparsiflow.engine.config import BACKENDS, MODES

__all__ = ["command"]


@click.command("worker")
@kafka_options
@setting_option(
    "--partitions", "TopicSettings.topic_partitions", "partitions of topics created", type=int
)
@setting_option("--group-id", "WorkerSettings.group_id", "consumer group, one per deployment")
@setting_option(
    "--metrics-port",
    "WorkerSettings.metrics_port",
    "port of /metrics, 0 for any free one",
    type=int,
)
@setting_option(
    "--state-dir",
    "WorkerSettings.state_dir",
    "folder for checkpoints",
    type=click.Path(file_okay=False, path_type=Path),
)
@setting_option("--batch-max-size", "BatchSettings.max_size", "updates per micro-batch", type=int)
@setting_option("--batch-max-wait", "BatchSettings.max_wait", "seconds a batch waits", type=float)
@setting_option("--mode", "EngineSettings.mode", "engine mode", type=click.Choice(MODES))
@setting_option("--threshold", "EngineSettings.threshold", "distortion threshold K", type=float)
@setting_option("--seed", "EngineSettings.seed", "RNG seed", type=int)
@setting_option("--backend", "EngineSettings.backend", "walk backend", type=click.Choice(BACKENDS))
@setting_option(
    "--kappa-every",
    "WorkerSettings.kappa_every",
    "measure kappa every N batches, 0 never",
    type=int,
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def command(log_level: str, **params: Any) -> None:
    """Run the stream processor until SIGTERM or SIGINT."""
    from sparsiflow.connector.kafka.worker import run_worker
    from sparsiflow.connector.settings import Settings

    overrides = kafka_overrides(params)
    overrides["topics"]["topic_partitions"] = params.pop("partitions")
    overrides["batch"] = {
        "max_size": params.pop("batch_max_size"),
        "max_wait": params.pop("batch_max_wait"),
    }
    overrides["engine"] = {
        name: params.pop(name) for name in ("mode", "threshold", "seed", "backend")
    }
    overrides["worker"] = params
    raise SystemExit(run_worker(Settings.load(**overrides), loglevel=log_level))
