"""``sparsiflow demo``: end-to-end run on an embedded local broker."""

from __future__ import annotations

import json

import click

__all__ = ["command"]


@click.command("demo")
@click.option(
    "--kind",
    type=click.Choice(["delaunay", "grid-circuit", "fem-mesh", "power-law"]),
    default="delaunay",
    show_default=True,
)
@click.option("--nodes", type=click.IntRange(min=100), default=10_000, show_default=True)
@click.option(
    "--records", type=click.Choice(["single", "batch"]), default="batch", show_default=True
)
@click.option(
    "--mode", type=click.Choice(["default", "dygrass"]), default="default", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
def command(kind: str, nodes: int, records: str, mode: str, seed: int) -> None:
    """End-to-end demo on an embedded local broker: start it and a worker, stream a generated
    graph and updates, show live progress and the final quality, stop everything."""
    from connector.demo import DemoOptions, run_demo

    options = DemoOptions(kind=kind, nodes=nodes, records=records, mode=mode, seed=seed)
    try:
        summary = run_demo(options, click.echo)
    except Exception as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc
    click.echo(json.dumps(summary))
