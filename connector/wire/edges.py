"""Records of the compacted current-H topic (contract ``schemas/sparsifier-edge.v1.json``): the
one encoder and the one decoder.

Per published batch of a graph the worker writes, after the batch's delta: one record per edge
of H the delta changed (key ``GRAPH/U/V`` with ``U < V``; value ``{"w", "batch"}``, or a
tombstone when the edge left H), then the graph's position record (key ``GRAPH``; value
``{"batch", "delta_partition", "delta_offset"}``). Compaction keeps the newest record per key, so
the topic holds H itself plus where to follow the deltas from.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import orjson

from sparsiflow.connector.wire.deltas import DeltaLogError
from sparsiflow.connector.wire.edge_updates import is_graph_id
from sparsiflow.connector.wire.fields import check_keys, count
from sparsiflow.engine.graph.updates import MAX_NODE_ID
from sparsiflow.engine.results import Delta

__all__ = ["EdgeRecord", "Position", "decode_edge_record", "edge_records", "is_graph_key"]

_EDGE = frozenset({"w", "batch"})
_POSITION = frozenset({"batch", "delta_partition", "delta_offset"})


class EdgeRecord(NamedTuple):
    """An edge of ``graph``'s H with weight ``w`` since ``batch``; ``w`` None: it left H."""

    graph: str
    u: int
    v: int
    w: float | None
    batch: int | None


class Position(NamedTuple):
    """Every change of ``graph``'s H up to ``batch`` is in the topic; the batch's delta is at
    ``delta_offset`` of partition ``delta_partition`` of the deltas topic."""

    graph: str
    batch: int
    delta_partition: int
    delta_offset: int


def edge_records(
    graph: str, batch: int, delta: Delta, delta_partition: int, delta_offset: int
) -> list[tuple[bytes, bytes | None]]:
    """(key, value) of every record batch ``batch`` of ``graph`` adds to the topic, in order:
    tombstones of the edges that left H, the new weights of reweighted and added edges, then
    the graph's position."""
    records: list[tuple[bytes, bytes | None]] = [
        (_key(graph, u, v), None)
        for u, v in zip(delta.removed_u.tolist(), delta.removed_v.tolist(), strict=True)
    ]
    for columns in (
        (delta.reweighted_u, delta.reweighted_v, delta.reweighted_w),
        (delta.added_u, delta.added_v, delta.added_w),
    ):
        for u, v, w in zip(*(c.tolist() for c in columns), strict=True):
            records.append((_key(graph, u, v), orjson.dumps({"w": w, "batch": batch})))
    position = {"batch": batch, "delta_partition": delta_partition, "delta_offset": delta_offset}
    records.append((graph.encode(), orjson.dumps(position)))
    return records


def is_graph_key(key: bytes | None, graph: str) -> bool:
    """Whether a record key belongs to ``graph`` (its position or one of its edges)."""
    if key is None:
        return False
    name = graph.encode()
    return key == name or key.startswith(name + b"/")


def decode_edge_record(key: bytes | None, value: bytes | None) -> EdgeRecord | Position:
    """A record of the topic; raises DeltaLogError when it breaks the contract. (Checks inline:
    a consumer loading H decodes one record per edge, ~1 us each.)"""
    try:
        graph, slash, ends = (key or b"").decode().partition("/")
        if not _graph_ok(graph):
            raise ValueError(f"key {key!r} does not start with a graph id")
        doc = orjson.loads(value) if value is not None else None
        if not slash:
            doc = check_keys(doc, _POSITION, frozenset())
            return Position(
                graph,
                count(doc, "batch"),
                count(doc, "delta_partition"),
                count(doc, "delta_offset"),
            )
        a, _, b = ends.partition("/")
        u, v = _node(a), _node(b)
        if not u < v:
            raise ValueError(f"key {key!r}: an edge key is GRAPH/U/V with U < V")
        if doc is None:
            return EdgeRecord(graph, u, v, None, None)
        if type(doc) is not dict or doc.keys() != _EDGE:
            raise ValueError(f"an edge value is an object with exactly w and batch, got {doc!r}")
        w, batch = doc["w"], doc["batch"]
        if type(w) not in (int, float) or not 0 < w < math.inf:
            raise ValueError(f"w must be a finite number > 0, got {w!r}")
        if type(batch) is not int or batch < 0:
            raise ValueError(f"batch must be an integer >= 0, got {batch!r}")
        return EdgeRecord(graph, u, v, float(w), batch)
    except (UnicodeDecodeError, orjson.JSONDecodeError, ValueError) as exc:
        raise DeltaLogError(f"unreadable current-H record: {exc}") from exc


@functools.lru_cache(maxsize=4096)
def _graph_ok(graph: str) -> bool:
    return is_graph_id(graph)


def _key(graph: str, u: int, v: int) -> bytes:
    lo, hi = (u, v) if u < v else (v, u)
    return f"{graph}/{lo}/{hi}".encode()


def _node(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_NODE_ID:
        raise ValueError(f"node id {text!r} is not a decimal integer in [0, 2^63)")
    return int(text)
