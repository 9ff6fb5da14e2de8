"""Command-line options shared by every Kafka-facing command: the broker and the topics.

Each flag overrides its ``SPARSIFLOW_*`` environment variable, which overrides the default;
the settings classes are the single source of those defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["kafka_options", "kafka_overrides"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    ("--bootstrap-servers", "SPARSIFLOW_BOOTSTRAP_SERVERS", "localhost:9092", "broker addresses"),
    ("--input-topic", "SPARSIFLOW_INPUT_TOPIC", "sparsiflow.edge-updates", "edge-update topic"),
    ("--deltas-topic", "SPARSIFLOW_DELTAS_TOPIC", "sparsiflow.sparsifier-deltas", "delta topic"),
    ("--metrics-topic", "SPARSIFLOW_METRICS_TOPIC", "sparsiflow.quality-metrics", "metrics topic"),
    ("--dlq-topic", "SPARSIFLOW_DLQ_TOPIC", "sparsiflow.edge-updates.dlq", "dead-letter topic"),
)  # fmt: skip


def kafka_options(command: F) -> F:
    """Add ``--bootstrap-servers`` and the four topic flags to a click command."""
    for flag, env, default, text in reversed(_OPTIONS):
        command = click.option(flag, default=None, help=f"{text} [env {env}; default {default}]")(
            command
        )
    return command


def kafka_overrides(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``Settings.load`` overrides from the parsed flags of :func:`kafka_options`."""
    return {
        "kafka": {"bootstrap_servers": params.pop("bootstrap_servers")},
        "topics": {
            name: params.pop(name)
            for name in ("input_topic", "deltas_topic", "metrics_topic", "dlq_topic")
        },
    }
