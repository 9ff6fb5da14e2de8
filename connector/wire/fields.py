"""Field checks shared by the decoders of the output events (deltas, quality metrics): a parsed
JSON object's keys, integers, numbers and graph id, each failure a :class:`ValueError` naming
the field."""

from __future__ import annotations

import math
from typing import Any

from sparsiflow.connector.wire.edge_updates import is_graph_id
from sparsiflow.engine.graph.updates import MAX_NODE_ID

__all__ = ["check_keys", "count", "graph_id", "is_node_id", "number", "optional_text"]


def check_keys(doc: Any, required: frozenset[str], optional: frozenset[str]) -> dict[str, Any]:
    """``doc`` as an object with every ``required`` key and no key beyond ``optional``."""
    if not isinstance(doc, dict):
        raise ValueError("an event is a JSON object")
    missing, unknown = required - doc.keys(), doc.keys() - required - optional
    if missing:
        raise ValueError(f"missing field(s): {', '.join(sorted(missing))}")
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    return doc


def count(doc: dict[str, Any], name: str) -> int:
    """Field ``name``: an integer >= 0."""
    x = doc[name]
    if type(x) is not int or x < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {x!r}")
    return x


def number(doc: dict[str, Any], name: str, minimum: float = -math.inf) -> float:
    """Field ``name``: a finite number >= ``minimum``."""
    x = doc[name]
    if type(x) not in (int, float) or not math.isfinite(x) or x < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {x!r}")
    return float(x)


def optional_text(doc: dict[str, Any], name: str) -> str | None:
    """Field ``name``: a string, or null or absent (None)."""
    x = doc.get(name)
    if x is not None and not isinstance(x, str):
        raise ValueError(f"{name} must be a string or null, got {x!r}")
    return x


def graph_id(doc: dict[str, Any]) -> str:
    """Field ``graph``: a valid graph id."""
    x = doc["graph"]
    if not isinstance(x, str) or not is_graph_id(x):
        raise ValueError(f"graph must be a graph id, got {x!r}")
    return x


def is_node_id(x: Any) -> bool:
    """Whether ``x`` is a node id: a JSON integer in [0, 2^63)."""
    return type(x) is int and 0 <= x <= MAX_NODE_ID
