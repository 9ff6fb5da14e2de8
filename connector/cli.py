"""The ``sparsiflow`` command line: one click group; each command lives in its own module."""

from __future__ import annotations

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sparsiflow")
def main() -> None:
    """Live spectral sparsification of changing graphs on Kafka."""


@main.command()
def demo() -> None:
    """End-to-end demo on an embedded local broker."""
    from connector.devbroker import LocalKafka, cache_dir

    click.echo("sparsiflow demo: starting a local Apache Kafka broker ...")
    with LocalKafka(workdir=cache_dir() / "demo-broker") as broker:
        click.echo(f"broker ready at {broker.bootstrap}")
        click.echo("The stream processor is not built yet: only the broker part of the demo runs.")
