"""Sparsifier-delta events (contract ``schemas/sparsifier-delta.v1.json``): the one encoder, the
one decoder, and the JSON-ready edge lists of a :class:`~sparsiflow.engine.results.Delta`.

The worker publishes these events, recovery and ``sparsiflow materialize`` read them back, and
``sparsiflow replay`` writes them to ``deltas.jsonl``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from sparsiflow.connector.wire.fields import check_keys, count, graph_id, is_node_id, number
from sparsiflow.engine.results import Delta

__all__ = [
    "DeltaEvent",
    "DeltaLogError",
    "EdgeLists",
    "SourceRange",
    "decode_delta",
    "delta_lists",
    "encode_delta",
]

EdgeLists = dict[str, Sequence[Sequence[Any]]]
"""``{"added": [(u, v, w)], "removed": [(u, v)], "reweighted": [(u, v, w)],
"recovered": [(u, v)], "pruned": [(u, v)]}`` (rows as tuples, or as lists where read from JSON)"""

_REQUIRED = frozenset({"graph", "batch", "source", "added", "removed", "reweighted", "produced_at"})
_OPTIONAL = frozenset({"recovered", "pruned"})
_LISTS = ("added", "removed", "reweighted", "recovered", "pruned")
_SOURCE = ("partition", "first_offset", "last_offset")


class DeltaLogError(RuntimeError):
    """Deltas cannot be read back consistently: an unreadable delta, a gap, a conflict."""


@dataclass(frozen=True, slots=True)
class SourceRange:
    """Input records a batch covers: one partition, offsets ``first..last`` inclusive."""

    partition: int
    first_offset: int
    last_offset: int


@dataclass(frozen=True)
class DeltaEvent:
    """A decoded delta event. ``content`` is what a repeat of this (graph, batch) must carry
    identically: the event's JSON without ``produced_at``."""

    graph: str
    batch: int
    source: SourceRange
    delta: Delta
    produced_at: float
    content: bytes


def delta_lists(delta: Delta) -> EdgeLists:
    """The delta's edges as JSON-ready lists of Python scalars, in the event's field order."""
    return {
        "added": _rows(delta.added_u, delta.added_v, delta.added_w),
        "removed": _rows(delta.removed_u, delta.removed_v),
        "reweighted": _rows(delta.reweighted_u, delta.reweighted_v, delta.reweighted_w),
        "recovered": _rows(delta.recovered_u, delta.recovered_v),
        "pruned": _rows(delta.pruned_u, delta.pruned_v),
    }


def encode_delta(
    graph: str, batch: int, source: SourceRange, delta: Delta, produced_at: float
) -> bytes:
    """The delta event's JSON bytes."""
    return orjson.dumps(
        {
            "graph": graph,
            "batch": batch,
            "source": {
                "partition": source.partition,
                "first_offset": source.first_offset,
                "last_offset": source.last_offset,
            },
            **delta_lists(delta),
            "produced_at": produced_at,
        }
    )


def decode_delta(value: bytes | None) -> DeltaEvent:
    """A delta event's JSON bytes as a typed event; raises DeltaLogError if they break the
    contract (an absent ``recovered`` or ``pruned`` reads as empty)."""
    try:
        doc = check_keys(orjson.loads(value or b""), _REQUIRED, _OPTIONAL)
        source = check_keys(doc["source"], frozenset(_SOURCE), frozenset())
        lists: EdgeLists = {
            name: _edges(doc.get(name, []), name, weighted=name in ("added", "reweighted"))
            for name in _LISTS
        }
        return DeltaEvent(
            graph=graph_id(doc),
            batch=count(doc, "batch"),
            source=SourceRange(*(count(source, name) for name in _SOURCE)),
            delta=_delta(lists),
            produced_at=number(doc, "produced_at"),
            content=orjson.dumps([[source[name] for name in _SOURCE], *lists.values()]),
        )
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise DeltaLogError(f"unreadable delta: {exc}") from exc


def _edges(rows: Any, name: str, weighted: bool) -> list[list[Any]]:
    """Rows of an edge list field, checked: ``[u, v, w]`` (weighted) or ``[u, v]``."""
    if not isinstance(rows, list):
        raise ValueError(f"{name} must be an array")
    width = 3 if weighted else 2
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == width
            and is_node_id(row[0])
            and is_node_id(row[1])
            and (not weighted or (type(row[2]) in (int, float) and 0 < row[2] < math.inf))
        ):
            shape = "[u, v, w] with w finite and > 0" if weighted else "[u, v]"
            raise ValueError(f"{name}: {row!r} is not an edge {shape}")
    return rows


def _delta(lists: EdgeLists) -> Delta:
    def column(name: str, i: int) -> Any:
        dtype = np.float64 if i == 2 else np.int64
        return np.array([row[i] for row in lists[name]], dtype=dtype)

    return Delta(
        column("added", 0), column("added", 1), column("added", 2),
        column("removed", 0), column("removed", 1),
        column("reweighted", 0), column("reweighted", 1), column("reweighted", 2),
        column("recovered", 0), column("recovered", 1),
        column("pruned", 0), column("pruned", 1),
    )  # fmt: skip


def _rows(*columns: Any) -> list[tuple[Any, ...]]:
    """Columns -> rows of Python scalars (``tolist`` converts in C; orjson writes a tuple as an
    array, and building no list per row saves the event loop 0.5 us per input update while a
    graph streams in: most of its updates enter H)."""
    return list(zip(*(c.tolist() for c in columns), strict=True))
