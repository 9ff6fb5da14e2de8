"""The broker a benchmark talks to: the one given, or a local one it starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparsiflow.connector.kafka.devbroker import LocalKafka

__all__ = ["broker_for"]


def broker_for(bootstrap: str | None, workdir: Path) -> tuple[str, LocalKafka | None]:
    """``bootstrap`` when given; else the address of a local broker started in ``workdir``,
    returned too (the caller stops it)."""
    if bootstrap is not None:
        return bootstrap, None
    from sparsiflow.connector.kafka.devbroker import LocalKafka

    broker = LocalKafka(workdir=workdir / "kafka")
    broker.start()
    return broker.bootstrap, broker
