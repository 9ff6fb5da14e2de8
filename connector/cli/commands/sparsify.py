"""``sparsiflow sparsify``: the static (bootstrap) sparsifier of a graph file."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["command"]


@click.command("sparsify")
@click.argument("graph", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Matrix Market file to write H to.",
)
@click.option(
    "--off-tree-density",
    type=click.FloatRange(0.0, 10.0),
    default=0.10,
    show_default=True,
    help="Edges kept beyond a spanning forest, per node.",
)
def command(graph: Path, out: Path, off_tree_density: float) -> None:
    """Write a spectral sparsifier of GRAPH: a spanning forest plus the highest-stretch edges."""
    from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
    from sparsiflow.engine.bootstrap import static_sparsifier
    from sparsiflow.engine.exceptions import EngineError

    start = time.perf_counter()
    try:
        g = read_graph(graph)
        keep = static_sparsifier(g.n, g.u, g.v, g.w, off_tree_density)
        h = g.subset(keep)
        write_graph(out, h, comment=f"sparsiflow sparsify --off-tree-density {off_tree_density}")
    except (EngineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{out}: {h.m} of {g.m} edges on {g.n} nodes "
        f"(density {h.m / max(g.n, 1):.4f}) in {time.perf_counter() - start:.2f} s",
        err=True,
    )
