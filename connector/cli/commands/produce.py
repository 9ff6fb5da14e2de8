"""``sparsiflow produce``: send a graph (as insertions) and/or an update file to the input
topic, as single-update or batch-form records, at an optional target rate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import kafka_options, kafka_overrides

__all__ = ["command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("produce")
@click.option("--graph-id", required=True, help="graph id: the record key and 'graph' field")
@click.option("--graph", "graph_file", type=_FILE, help="Matrix Market graph, sent as insertions")
@click.option("--updates", "updates_file", type=_FILE, help="JSONL input events or .mtx stream")
@click.option(
    "--records", type=click.Choice(["single", "batch"]), default="batch", show_default=True
)
@click.option(
    "--batch-records",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="updates per batch-form record",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="updates per second (default: as fast as possible)",
)
@click.option(
    "--partitions",
    type=int,
    help="partitions if the input topic is created [env SPARSIFLOW_TOPIC_PARTITIONS]",
)
@kafka_options
def command(
    graph_id: str,
    graph_file: Path | None,
    updates_file: Path | None,
    records: str,
    batch_records: int,
    rate: float | None,
    **params: Any,
) -> None:
    """Send a graph and/or updates of GRAPH_ID to the input topic; prints a JSON summary.

    JSONL updates are sent under --graph-id whatever their own 'graph' field says.
    """
    from confluent_kafka import KafkaException

    from sparsiflow.connector.cli.errors import kafka_clients, kafka_error, load_settings
    from sparsiflow.connector.kafka.produce import produce
    from sparsiflow.connector.kafka.topics import ensure_topics
    from sparsiflow.connector.wire.edge_updates import is_graph_id
    from sparsiflow.connector.wire.update_files import read_update_file
    from sparsiflow.engine.exceptions import EngineError
    from sparsiflow.engine.graph.updates import UpdateBatch

    if not is_graph_id(graph_id):
        raise click.BadParameter("1-64 characters of [A-Za-z0-9._-]", param_hint="--graph-id")
    if graph_file is None and updates_file is None:
        raise click.UsageError("give --graph and/or --updates")
    overrides = kafka_overrides(params)
    overrides["topics"]["topic_partitions"] = params.pop("partitions")
    settings = load_settings(**overrides)
    try:
        parts = []
        if graph_file is not None:
            from sparsiflow.connector.wire.matrix_market import read_graph

            edges = read_graph(graph_file)
            parts.append(UpdateBatch.inserts(edges.u, edges.v, edges.w))
        if updates_file is not None:
            parts.append(read_update_file(updates_file))
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    updates = UpdateBatch.concat(parts)
    configs = kafka_clients(settings)  # one line, within seconds, if no broker answers
    topic = settings.topics.input_topic
    try:
        ensure_topics(configs, settings.topics, [topic])
        with click.progressbar(
            length=len(updates), label=f"{topic} <- {graph_id}", file=sys.stderr, show_pos=True
        ) as bar:
            report = produce(
                configs.librdkafka,
                topic,
                graph_id,
                updates,
                records="single" if records == "single" else "batch",
                per_record=batch_records,
                rate=rate,
                progress=bar.update,
            )
    except KafkaException as exc:
        raise kafka_error(exc, settings.kafka.bootstrap_servers) from None
    summary = {
        "topic": topic,
        "graph": graph_id,
        "records": report.records,
        "updates": report.updates,
        "seconds": round(report.seconds, 3),
        "updates_per_s": round(report.updates / report.seconds) if report.seconds else None,
        "last_offsets": report.last_offsets,
    }
    click.echo(json.dumps(summary))
