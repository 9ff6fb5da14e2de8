"""The ``sparsiflow`` command line: one click group; each command is a module of
``sparsiflow.connector.cli.commands`` exposing ``command`` (a ``click.Command``). Heavy imports stay
inside the command functions so ``sparsiflow --help`` is fast."""

from __future__ import annotations

import importlib
import pkgutil

import click

import sparsiflow.connector.cli.commands

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sparsiflow")
def main() -> None:
    """Live spectral sparsification of changing graphs on Kafka."""


for _info in sorted(
    pkgutil.iter_modules(sparsiflow.connector.cli.commands.__path__), key=lambda m: m.name
):
    _module = importlib.import_module(f"sparsiflow.connector.cli.commands.{_info.name}")
    main.add_command(_module.command)
