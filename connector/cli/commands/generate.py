"""``sparsiflow generate``: a synthetic graph family, and optionally an update stream for it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import click

from sparsiflow.workloads import FAMILIES, WEIGHTS

__all__ = ["command"]


@click.command("generate")
@click.argument("kind", type=click.Choice(FAMILIES))
@click.option("--nodes", "-n", type=click.IntRange(min=2), required=True, help="Node count.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Matrix Market file of the graph (the base graph when --updates is given).",
)
@click.option(
    "--weights",
    type=click.Choice(WEIGHTS),
    default=None,
    help="Replace the family's weights (default: its own: unit, or conductances for circuits).",
)
@click.option(
    "--updates",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an update stream (JSONL input events): the edges removed from the full "
    "graph come back as insertions, then some deletions.",
)
@click.option("--insert-frac", type=click.FloatRange(min=0), default=0.25, show_default=True)
@click.option("--delete-frac", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--graph-id", default="g1", show_default=True, help="Graph id of the events.")
@click.option("--seed", type=int, default=0, show_default=True)
def command(
    kind: str,
    nodes: int,
    out: Path,
    weights: str | None,
    updates: Path | None,
    insert_frac: float,
    delete_frac: float,
    graph_id: str,
    seed: int,
) -> None:
    """Generate a graph of family KIND (delaunay, grid-circuit, fem-mesh, power-law)."""
    from sparsiflow.connector.wire.edge_updates import is_graph_id
    from sparsiflow.connector.wire.matrix_market import write_graph
    from sparsiflow.connector.wire.update_files import write_updates
    from sparsiflow.engine.exceptions import EngineError
    from sparsiflow.workloads import Family, Weights, streams
    from sparsiflow.workloads import families as generate

    if updates is not None and not is_graph_id(graph_id):
        raise click.BadParameter("1-64 characters of [A-Za-z0-9._-]", param_hint="--graph-id")
    start = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - start:7.2f} s] {message}", err=True)

    try:
        say(f"generating {kind} on {nodes} nodes (seed {seed})")
        graph = generate.build(cast("Family", kind), nodes, seed=seed)
        if weights is not None:
            graph = generate.reweight(graph, cast("Weights", weights), seed)
        say(f"{graph.m} edges")
        if updates is not None:
            stream = streams.update_stream(graph, insert_frac, delete_frac, seed)
            graph = stream.base
            say(f"stream: {len(stream.ops)} updates; base graph keeps {graph.m} edges")
            write_updates(updates, stream.batch(), graph_id)
            say(f"wrote {updates}")
        write_graph(out, graph, comment=f"sparsiflow generate {kind} --nodes {nodes} --seed {seed}")
        say(f"wrote {out}")
    except (EngineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
