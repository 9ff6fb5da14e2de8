"""The deltas topic read back as the record of what was decided: the headers the worker puts on
each delta (how many updates it covers; for a chunk of a split record, which rows), the delta
partition of an input partition, and a delta record (decoded by
:func:`~sparsiflow.connector.wire.deltas.decode_delta`) as a :class:`DeltaEntry`.

A graph's deltas all go to one delta partition chosen by its input partition
(:func:`delta_partition`), so recovering an input partition reads exactly one partition of the
deltas topic. The record key stays the graph id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import orjson

from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.stream.records import Headers
from sparsiflow.connector.wire.deltas import DeltaLogError, decode_delta
from sparsiflow.engine.results import Delta

__all__ = [
    "ROWS_HEADER",
    "UPDATES_HEADER",
    "DeltaEntry",
    "RowSpan",
    "delta_headers",
    "delta_partition",
    "parse_delta",
]

UPDATES_HEADER = "sparsiflow.updates"
ROWS_HEADER = "sparsiflow.rows"


class RowSpan(NamedTuple):
    """Rows ``start:stop`` of a record of ``total`` rows (one chunk of a split record)."""

    start: int
    stop: int
    total: int


def delta_partition(input_partition: int, delta_partitions: int) -> int:
    """The delta partition that holds the deltas of the graphs of ``input_partition``."""
    return input_partition % delta_partitions


def delta_headers(updates: int, rows: RowSpan | None) -> Headers:
    """Headers of a delta covering ``updates`` updates (``rows``: the chunk of a split record)."""
    headers = [(UPDATES_HEADER, str(updates).encode())]
    if rows is not None:
        headers.append((ROWS_HEADER, f"{rows.start}:{rows.stop}/{rows.total}".encode()))
    return headers


@dataclass(frozen=True)
class DeltaEntry:
    """One delta of the log: its graph, batch, source range, rows, the parsed delta, its
    content (for comparing repeats) and its offset in the delta partition."""

    graph: str
    batch: int
    partition: int
    first_offset: int
    last_offset: int
    rows: RowSpan | None
    updates: int | None
    delta: Delta
    content: bytes
    log_offset: int

    @property
    def empty(self) -> bool:
        """Whether it covers no input record (a batch without updates)."""
        return self.last_offset < self.first_offset

    @property
    def start(self) -> Position:
        """Position of the first update it covers."""
        return Position(self.first_offset, self.rows.start if self.rows else 0)

    @property
    def covered(self) -> Position:
        """Position of the first update after the ones it covers."""
        if self.rows is None:
            return Position(self.last_offset + 1)
        return Position.past(self.last_offset, self.rows.stop, self.rows.total)


def parse_delta(value: bytes, headers: Headers, log_offset: int) -> DeltaEntry:
    """A delta record's value and headers as an entry; raises DeltaLogError if unreadable."""
    try:
        event = decode_delta(value)
    except DeltaLogError as exc:
        raise DeltaLogError(f"offset {log_offset}: {exc}") from exc
    try:
        found = dict(headers)
        rows = None
        if ROWS_HEADER in found:
            span, total = found[ROWS_HEADER].decode().split("/")
            start, stop = span.split(":")
            rows = RowSpan(int(start), int(stop), int(total))
        updates = int(found[UPDATES_HEADER]) if UPDATES_HEADER in found else None
    except ValueError as exc:
        raise DeltaLogError(f"offset {log_offset}: unreadable delta headers: {exc}") from exc
    return DeltaEntry(
        graph=event.graph,
        batch=event.batch,
        partition=event.source.partition,
        first_offset=event.source.first_offset,
        last_offset=event.source.last_offset,
        rows=rows,
        updates=updates,
        delta=event.delta,
        content=event.content + orjson.dumps(rows and list(rows)),
        log_offset=log_offset,
    )
