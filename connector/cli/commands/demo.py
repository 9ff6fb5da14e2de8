"""``sparsiflow demo``: end-to-end run on an embedded local broker."""

from __future__ import annotations

import json
from typing import cast

import click

from sparsiflow.connector.cli.options import TargetKappa, mode_option
from sparsiflow.engine.config import DEFAULT_TARGET_KAPPA
from sparsiflow.workloads import FAMILIES, Family

__all__ = ["command"]


@click.command("demo")
@click.option(
    "--kind",
    type=click.Choice(FAMILIES),
    default="delaunay",
    show_default=True,
)
@click.option("--nodes", type=click.IntRange(min=100), default=10_000, show_default=True)
@click.option(
    "--records", type=click.Choice(["single", "batch"]), default="batch", show_default=True
)
@mode_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--target-kappa",
    type=TargetKappa(),
    default=DEFAULT_TARGET_KAPPA,
    show_default=True,
    help="Kappa the worker holds per graph; 'off' to measure only.",
)
def command(
    kind: str, nodes: int, records: str, mode: str, seed: int, target_kappa: float | None
) -> None:
    """End-to-end demo on an embedded local broker: start it and a worker, stream a generated
    graph and updates, show live progress and the final quality, stop everything."""
    from sparsiflow.connector.demo import DemoOptions, run_demo

    options = DemoOptions(
        kind=cast("Family", kind),
        nodes=nodes,
        records=records,
        mode=mode,
        seed=seed,
        target_kappa=target_kappa,
    )
    try:
        summary = run_demo(options, click.echo)
    except Exception as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc
    click.echo(json.dumps(summary))
