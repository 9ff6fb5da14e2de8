"""``sparsiflow sparsify``: the static (bootstrap) sparsifier of a graph file."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sparsiflow.connector.cli.options import TargetKappa

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
    help="Edges kept beyond a spanning forest, per node (without --target-kappa).",
)
@click.option(
    "--target-kappa",
    type=TargetKappa(),
    default=None,
    help="Build to estimated kappa <= this at the least density found, instead.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Of the kappa estimates.")
def command(
    graph: Path, out: Path, off_tree_density: float, target_kappa: float | None, seed: int
) -> None:
    """Write a spectral sparsifier of GRAPH: a spanning forest plus the highest-stretch edges
    (feGRASS), or, with --target-kappa, the least dense one found whose estimated kappa is
    under the target (static start, then recovery of the edges of the worst directions)."""
    from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
    from sparsiflow.engine.bootstrap import static_sparsifier
    from sparsiflow.engine.exceptions import EngineError
    from sparsiflow.engine.graph.edges import components
    from sparsiflow.engine.quality.control import build_to_target
    from sparsiflow.engine.quality.estimator import KappaEstimator

    start = time.perf_counter()
    try:
        g = read_graph(graph)
        if target_kappa is None:
            keep = static_sparsifier(g.n, g.u, g.v, g.w, off_tree_density)
            how = f"--off-tree-density {off_tree_density}"
        else:
            outcome, keep = build_to_target(g, target_kappa, KappaEstimator(seed=seed))
            how = f"--target-kappa {target_kappa:g}: estimated kappa {outcome.lambda_after:.4g}"
        h = g.subset(keep)
        write_graph(out, h, comment=f"sparsiflow sparsify {how}")
    except (EngineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    off_tree = (h.m - (g.n - components(g)[0])) / max(g.n, 1)
    click.echo(
        f"{out}: {h.m} of {g.m} edges on {g.n} nodes (density {h.m / max(g.n, 1):.4f}, "
        f"off-tree {off_tree:.4f}) in {time.perf_counter() - start:.2f} s ({how})",
        err=True,
    )
