"""``sparsiflow demo``: end-to-end run on an embedded local broker."""

from __future__ import annotations

import click

__all__ = ["command"]


@click.command("demo")
def command() -> None:
    """End-to-end demo on an embedded local broker."""
    from connector.devbroker import LocalKafka, cache_dir

    click.echo("sparsiflow demo: starting a local Apache Kafka broker ...")
    with LocalKafka(workdir=cache_dir() / "demo-broker") as broker:
        click.echo(f"broker ready at {broker.bootstrap}")
        click.echo("The stream processor is not built yet: only the broker part of the demo runs.")
