"""``sparsiflow materialize``: rebuild H of a graph from the deltas topic (and G from the input
topic) and write them as Matrix Market files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sparsiflow.connector.cli.options import kafka_options, kafka_overrides

__all__ = ["command"]

_OUT = click.Path(dir_okay=False, path_type=Path)


@click.command("materialize")
@click.option("--graph-id", required=True, help="graph to rebuild")
@click.option("--out", required=True, type=_OUT, help="Matrix Market file for H")
@click.option("--graph-out", type=_OUT, help="Matrix Market file for G (read from the input topic)")
@click.option(
    "--until-idle",
    type=click.FloatRange(min=0),
    help="keep reading until no record came for SECONDS (default: stop at the end offsets "
    "seen at start)",
)
@click.option(
    "--check-history",
    is_flag=True,
    help="read every delta from the start (checks the whole log: contiguous batches, identical "
    "repeats) instead of loading H from the current-H topic first",
)
@kafka_options
def command(
    graph_id: str,
    out: Path,
    graph_out: Path | None,
    until_idle: float | None,
    check_history: bool,
    **params: Any,
) -> None:
    """Write the current H (and G) of GRAPH_ID; prints a JSON summary."""
    from confluent_kafka import KafkaException

    from sparsiflow.connector.cli.errors import kafka_clients, kafka_error, load_settings
    from sparsiflow.connector.downstream.materialize import materialize
    from sparsiflow.connector.wire.deltas import DeltaLogError
    from sparsiflow.connector.wire.matrix_market import write_graph
    from sparsiflow.engine.exceptions import EngineError

    settings = load_settings(**kafka_overrides(params))
    topics = settings.topics
    configs = kafka_clients(settings)  # one line, within seconds, if no broker answers
    try:
        result = materialize(
            configs.librdkafka,
            topics.deltas_topic,
            graph_id,
            input_topic=topics.input_topic if graph_out is not None else None,
            edges_topic=None if check_history else topics.edges_topic or None,
            until_idle=until_idle,
            progress=lambda line: click.echo(line, err=True),
            partitioner=topics.partitioner,
        )
        n = result.node_count()
        write_graph(out, result.sparsifier.edge_list(n), comment=f"sparsiflow H of {graph_id}")
        if graph_out is not None and result.input is not None:
            write_graph(graph_out, result.input.edge_list(n), comment=f"sparsiflow G of {graph_id}")
    except (DeltaLogError, EngineError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KafkaException as exc:
        raise kafka_error(exc, settings.kafka.bootstrap_servers) from None
    summary = {
        "graph": graph_id,
        "batches": result.batches,
        "loaded_from": "deltas" if result.position is None else "current-H topic",
        "duplicates": result.duplicates,
        "sparsifier_edges": len(result.sparsifier),
        "graph_edges": None if result.input is None else len(result.input),
        "nodes": n,
    }
    json.dump(summary, sys.stdout)
    click.echo()
