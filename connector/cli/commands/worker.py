"""``sparsiflow worker``: run the Faust stream processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import kafka_options, kafka_overrides

__all__ = ["command"]


@click.command("worker")
@kafka_options
@click.option(
    "--partitions",
    type=int,
    help="partitions of topics created [env SPARSIFLOW_TOPIC_PARTITIONS; default 6]",
)
@click.option(
    "--group-id",
    help="consumer group, one per deployment [env SPARSIFLOW_GROUP_ID; default sparsiflow]",
)
@click.option(
    "--metrics-port",
    type=int,
    help="port of /metrics, 0 for any free one [env SPARSIFLOW_METRICS_PORT; default 9108]",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for checkpoints [env SPARSIFLOW_STATE_DIR]",
)
@click.option(
    "--batch-max-size",
    type=int,
    help="updates per micro-batch [env SPARSIFLOW_BATCH_MAX_SIZE; default 10000]",
)
@click.option(
    "--batch-max-wait",
    type=float,
    help="seconds a batch waits [env SPARSIFLOW_BATCH_MAX_WAIT; default 0.05]",
)
@click.option(
    "--mode",
    type=click.Choice(["default", "dygrass"]),
    help="engine mode [env SPARSIFLOW_ENGINE_MODE]",
)
@click.option(
    "--threshold", type=float, help="distortion threshold K [env SPARSIFLOW_ENGINE_THRESHOLD]"
)
@click.option("--seed", type=int, help="RNG seed [env SPARSIFLOW_ENGINE_SEED]")
@click.option(
    "--backend",
    type=click.Choice(["auto", "numpy", "numba", "cupy"]),
    help="walk backend [env SPARSIFLOW_ENGINE_BACKEND]",
)
@click.option(
    "--kappa-every",
    type=int,
    help="measure kappa every N batches, 0 never [env SPARSIFLOW_KAPPA_EVERY]",
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
