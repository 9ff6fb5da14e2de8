"""``sparsiflow quality``: exact relative condition number of a sparsifier, as JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

import click

__all__ = ["command"]


@click.command("quality")
@click.option(
    "--graph",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Matrix Market file of G.",
)
@click.option(
    "--sparsifier",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Matrix Market file of H (a subgraph of G).",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "dense", "sparse"]),
    default="auto",
    show_default=True,
    help="dense: LAPACK (small graphs); sparse: Lanczos with sparse LU.",
)
def command(graph: Path, sparsifier: Path, method: str) -> None:
    """Print kappa, lambda_max, lambda_min, density, off_tree_density, components as JSON."""
    from sparsiflow.connector.wire.matrix_market import read_graph
    from sparsiflow.engine.exceptions import EngineError
    from sparsiflow.engine.quality.exact import Method, measure

    start = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - start:7.2f} s] {message}", err=True)

    try:
        say(f"reading {graph} and {sparsifier}")
        g, h = read_graph(graph), read_graph(sparsifier)
        say(f"G: {g.n} nodes, {g.m} edges; H: {h.m} edges")
        report = measure(g, h, method=cast("Method", method), progress=say)
    except (EngineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report.to_dict()))
