"""The rules of one edge update, shared by both forms of an input record: :func:`check_row` for
a single-update record (and for any one row), :func:`check_columns` for the rows of a
batch-form record, vectorized. Both run the same checks in the same order:

1. ``op`` is a string; ``u``, then ``v`` an integer (a number with a zero fraction counts as
   one; booleans do not); ``w`` a number or null; insert and reweight have a ``w`` (reason
   ``schema``);
2. the graph id (``bad_graph_id``; the same for every row of a record);
3. the op is insert, delete or reweight (``unknown_op``);
4. ``u``, then ``v`` in ``[0, 2^63)`` (``bad_node_id``);
5. ``u != v`` (``self_loop``);
6. a non-null ``w`` is finite and > 0, and insert and reweight have a non-null one
   (``bad_weight``).

A batch reports the first check that any of its rows fails, at the first row failing it, with
the message :func:`check_row` gives that row prefixed by ``row i:`` (the graph id's message is
the record's and has no prefix): a one-row batch and the single record of that row have the same
outcome. Only a rejected batch goes through its rows one by one.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.graph.updates import MAX_NODE_ID, Op, UpdateBatch

__all__ = [
    "DELETE",
    "OP_CODES",
    "OP_NAMES",
    "Row",
    "bad_graph",
    "check_columns",
    "check_row",
    "is_graph_id",
    "kind",
]

Row = tuple[int, int, int, float]
"""A valid update: op code, u, v, weight (NaN for a delete)."""

DELETE = int(Op.DELETE)  # plain ints: comparing with an enum member is far slower
_INSERT, _REWEIGHT = int(Op.INSERT), int(Op.REWEIGHT)
OP_CODES = {"insert": _INSERT, "delete": DELETE, "reweight": _REWEIGHT}
OP_NAMES = {code: name for name, code in OP_CODES.items()}
_WEIGHTED = frozenset({_INSERT, _REWEIGHT})
_NUMBER_TYPES = frozenset({int, float})
_WEIGHT_TYPES = frozenset({int, float, type(None)})
_GRAPH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHOWN = 40  # characters of a bad value in a message (an integer may have thousands of digits)


@functools.lru_cache(maxsize=4096)  # a worker sees the same few ids in every record
def is_graph_id(text: str) -> bool:
    """True when ``text`` is a valid graph id (1-64 chars of [A-Za-z0-9._-], alnum first)."""
    return _GRAPH_ID.fullmatch(text) is not None


def bad_graph(graph: str) -> Rejected:
    return Rejected(
        Reason.BAD_GRAPH_ID,
        f"graph id {graph[:80]!r} is not 1-64 characters of [A-Za-z0-9._-] starting with a "
        "letter or digit",
    )


def kind(x: Any) -> str:
    """The JSON type of a parsed value, for messages."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(x), "number"
    )


def check_row(graph: str, op: Any, u: Any, v: Any, w: Any, has_w: bool) -> Row | Rejected:
    """One update (``w`` None and ``has_w`` False when the record has no ``w``), checked in the
    module's order."""
    if type(op) is not str:
        return Rejected(Reason.SCHEMA, f"op must be a string, got {kind(op)}")
    if not (type(u) is int or (type(u) is float and u.is_integer())):
        return Rejected(Reason.SCHEMA, f"u must be an integer node id, got {kind(u)}")
    if not (type(v) is int or (type(v) is float and v.is_integer())):
        return Rejected(Reason.SCHEMA, f"v must be an integer node id, got {kind(v)}")
    if w is not None and type(w) not in _NUMBER_TYPES:
        return Rejected(Reason.SCHEMA, f"w must be a number or null, got {kind(w)}")
    code = OP_CODES.get(op)
    if not has_w and code in _WEIGHTED:
        return Rejected(Reason.SCHEMA, f"{op} needs a weight w")
    if not is_graph_id(graph):
        return bad_graph(graph)
    if code is None:
        return Rejected(Reason.UNKNOWN_OP, f"unknown op {_show(op)} (insert, delete or reweight)")
    if type(u) is float:
        u = int(u)
    if type(v) is float:
        v = int(v)
    if not 0 <= u <= MAX_NODE_ID:
        return Rejected(Reason.BAD_NODE_ID, f"u: node id {_show_number(u)} is not in [0, 2^63)")
    if not 0 <= v <= MAX_NODE_ID:
        return Rejected(Reason.BAD_NODE_ID, f"v: node id {_show_number(v)} is not in [0, 2^63)")
    if u == v:
        return Rejected(Reason.SELF_LOOP, f"self-loop on node {u}")
    if type(w) is float and 0.0 < w < math.inf:  # the common case, inline
        return code, u, v, (math.nan if code == DELETE else w)
    if not _weight_ok(w, code):
        shown = "null" if w is None else _show_number(w)
        return Rejected(Reason.BAD_WEIGHT, f"w must be finite and > 0, got {shown}")
    return code, u, v, (math.nan if code == DELETE else float(w))


def check_columns(
    graph: str, ops: list[Any], u: list[Any], v: list[Any], w: list[Any] | None
) -> UpdateBatch | Rejected:
    """The rows of a batch (``w`` None when the record has no ``w``; the lists are of equal,
    non-zero length), checked in the module's order."""

    def fault(i: int) -> Rejected:
        """Row ``i`` fails a check that no row fails an earlier one of: its single-row outcome."""
        row = check_row(graph, ops[i], u[i], v[i], None if w is None else w[i], w is not None)
        if not isinstance(row, Rejected):  # the vectorized checks disagree with check_row
            raise AssertionError(f"row {i} passes check_row, yet the batch checks refuse it")
        if row.reason is Reason.BAD_GRAPH_ID:
            return row
        return Rejected(row.reason, f"row {i}: {row.message}")

    n = len(ops)
    if set(map(type, ops)) != {str}:
        return fault(_first(type(x) is not str for x in ops))
    u_ints = _integers(u)
    if u_ints is None:
        return fault(_first(not _is_integer(x) for x in u))
    v_ints = _integers(v)
    if v_ints is None:
        return fault(_first(not _is_integer(x) for x in v))
    w_null: NDArray[np.bool_] | None = None  # where w is null; None: nowhere
    if w is not None:
        kinds = set(map(type, w))
        if not kinds <= _WEIGHT_TYPES:
            return fault(_first(x is not None and type(x) not in _NUMBER_TYPES for x in w))
        if type(None) in kinds:
            w_null = np.fromiter((x is None for x in w), bool, n)
    codes = np.fromiter((OP_CODES.get(x, -1) for x in ops), np.int8, n)
    if w is None:
        weighted = np.flatnonzero((codes == _INSERT) | (codes == _REWEIGHT))
        if weighted.size:
            return fault(int(weighted[0]))
    if _GRAPH_ID.fullmatch(graph) is None:
        return bad_graph(graph)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        return fault(int(unknown[0]))
    u_ids = _node_ids(u_ints)
    if isinstance(u_ids, int):
        return fault(u_ids)
    v_ids = _node_ids(v_ints)
    if isinstance(v_ids, int):
        return fault(v_ids)
    loops = np.flatnonzero(u_ids == v_ids)
    if loops.size:
        return fault(int(loops[0]))
    deletes = codes == DELETE
    if w is None:
        weights = np.full(n, math.nan)
    else:
        try:
            weights = np.array(w, dtype=np.float64)  # null -> NaN
        except OverflowError:  # an integer beyond a double's range
            codes_list = codes.tolist()
            return fault(_first(not _weight_ok(x, c) for x, c in zip(w, codes_list, strict=True)))
        ok = (weights > 0) & (weights < math.inf)  # NaN compares False
        if w_null is not None:
            ok |= w_null & deletes
        bad = np.flatnonzero(~ok)
        if bad.size:
            return fault(int(bad[0]))
        weights[deletes] = math.nan
    return UpdateBatch(codes, u_ids, v_ids, weights)


def _integers(values: list[Any]) -> list[int] | None:
    """``values`` as ints when each is an integer (floats with a zero fraction included)."""
    kinds = set(map(type, values))
    if not kinds <= _NUMBER_TYPES:
        return None
    if float not in kinds:
        return values
    if not all(map(_is_integer, values)):
        return None
    return [int(x) for x in values]


def _node_ids(values: list[int]) -> NDArray[np.int64] | int:
    """The ids as an array, or the first row whose id is not in [0, 2^63)."""
    try:
        ids = np.array(values, dtype=np.int64)
    except OverflowError:
        return _first(not 0 <= x <= MAX_NODE_ID for x in values)
    negative = np.flatnonzero(ids < 0)
    return int(negative[0]) if negative.size else ids


def _weight_ok(w: int | float | None, code: int) -> bool:
    """The weight rule of one row whose types passed: null only on a delete, else finite > 0."""
    if w is None:
        return code == DELETE
    try:
        x = float(w)
    except OverflowError:
        return False
    return 0 < x < math.inf


def _is_integer(x: Any) -> bool:
    return type(x) is int or (type(x) is float and x.is_integer())


def _first(flags: Any) -> int:
    """Index of the first true flag (one is true)."""
    for i, flag in enumerate(flags):
        if flag:
            return i
    raise AssertionError("no row fails the check")


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _show_number(x: float) -> str:
    """A number for a message, the same whichever parser read it: orjson reads an integer
    beyond 64 bits as the nearest double, the standard parser (which a record takes when it
    holds NaN, say) exactly; so an integer of 2^63 or more in size is shown as that double."""
    if type(x) is int and not -(2**63) < x < 2**63:
        try:
            return repr(float(x))
        except OverflowError:  # beyond doubles: orjson refuses it, so both read it exactly
            pass
    return _show(x)
