"""Plain Kafka record values at the connector's edges, free of any client library's types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Headers", "InputRecord", "OutputRecord"]

Headers = list[tuple[str, bytes]]


class InputRecord(NamedTuple):
    """A consumed record; ``timestamp`` in seconds since the epoch; ``handle`` is the consuming
    runtime's own object for it (acknowledged once the outputs covering it are delivered). A
    named tuple: the worker builds one per record, and a tuple is built 3x quicker than a
    frozen dataclass."""

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    handle: object = None


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A record to produce; ``partition`` None lets the producer's partitioner choose; ``value``
    None is a tombstone (compacted topics)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    partition: int | None = None
