"""Update streams: the paper's benchmark streams, and JSONL files in the input-event format.

A JSONL update file holds one input event per line (DESIGN.md section 2), single-update
``{"graph": "g1", "op": "insert", "u": 3, "v": 9, "w": 1.5}`` (a delete has no ``w``) or batch
form ``{"graph": "g1", "ops": [...], "u": [...], "v": [...], "w": [...]}``.
"""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import minimum_spanning_tree

from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch

__all__ = ["UpdateStream", "read_updates", "spanning_forest", "update_stream", "write_updates"]

StrPath = str | PathLike[str]

_CODES = {op.name.lower(): op for op in Op}


class UpdateStream(NamedTuple):
    """A base graph and the updates to apply to it, in order (``w`` is NaN for deletes)."""

    base: EdgeList
    ops: NDArray[np.int8]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    w: NDArray[np.float64]

    def batch(self) -> UpdateBatch:
        """The updates as one (valid) batch."""
        return UpdateBatch(self.ops, self.u, self.v, self.w)


def spanning_forest(edges: EdgeList, seed: int = 0) -> NDArray[np.bool_]:
    """Row mask of a random spanning forest (minimum spanning forest under random keys)."""
    keys = np.random.default_rng([seed, 2]).permutation(edges.m).astype(np.float64) + 1.0
    upper = sp.csr_matrix((keys, (edges.u, edges.v)), shape=(edges.n, edges.n))
    forest = minimum_spanning_tree(upper).tocoo()
    mask = np.zeros(edges.m, dtype=np.bool_)
    order = np.argsort(keys)
    mask[order[forest.data.astype(np.int64) - 1]] = True
    return mask


def update_stream(
    full: EdgeList, insert_frac: float = 0.25, delete_frac: float = 0.01, seed: int = 0
) -> UpdateStream:
    """The dyGRASS benchmark protocol on a graph ``full``.

    ``round(insert_frac * n)`` edges outside a random spanning forest are removed from
    ``full`` (so ``base`` keeps its components) and become *local* insertions, in random order;
    then ``round(delete_frac * n)`` edges of the final graph, outside that forest, are deleted
    (so the graph never loses connectivity). Raises ValueError when ``full`` has too few
    edges outside the forest.
    """
    if insert_frac < 0 or delete_frac < 0:
        raise ValueError("insert_frac and delete_frac must be >= 0")
    rng = np.random.default_rng([seed, 3])
    spare = np.flatnonzero(~spanning_forest(full, seed))
    inserts, deletes = round(insert_frac * full.n), round(delete_frac * full.n)
    if max(inserts, deletes) > spare.shape[0]:
        raise ValueError(
            f"the graph has {spare.shape[0]} edges outside a spanning forest; "
            f"{inserts} insertions and {deletes} deletions were asked for"
        )
    added = rng.choice(spare, inserts, replace=False)
    removed = rng.choice(spare, deletes, replace=False)
    base = np.ones(full.m, dtype=np.bool_)
    base[added] = False
    rows = np.concatenate([added, removed])
    w = np.concatenate([full.w[added], np.full(deletes, np.nan)])
    ops = np.concatenate([np.full(inserts, Op.INSERT), np.full(deletes, Op.DELETE)])
    return UpdateStream(full.subset(base), ops.astype(np.int8), full.u[rows], full.v[rows], w)


def write_updates(path: StrPath, batch: UpdateBatch, graph: str) -> None:
    """Write ``batch`` as JSONL, one single-update input event per line."""
    names = {op: json.dumps(op.name.lower()) for op in Op}
    gid = json.dumps(graph)
    with Path(path).open("w", encoding="utf-8") as fh:
        for op, u, v, w in zip(
            batch.ops.tolist(), batch.u.tolist(), batch.v.tolist(), batch.w.tolist(), strict=True
        ):
            tail = "}" if op == Op.DELETE else f', "w": {w!r}}}'
            fh.write(f'{{"graph": {gid}, "op": {names[op]}, "u": {u}, "v": {v}{tail}\n')


def read_updates(path: StrPath, graph: str | None = None) -> UpdateBatch:
    """Updates of a JSONL file (single or batch events), in order; only ``graph``'s if given.

    Raises InvalidUpdateError naming the line of the first malformed event.
    """
    ops: list[int] = []
    us: list[int] = []
    vs: list[int] = []
    ws: list[float] = []
    lines: list[int] = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                if graph is not None and event.get("graph") != graph:
                    continue
                if "ops" in event:
                    names, u, v = event["ops"], event["u"], event["v"]
                    w = event.get("w") or [None] * len(names)
                else:
                    names, u, v, w = [event["op"]], [event["u"]], [event["v"]], [event.get("w")]
                if len(w) != len(names):
                    raise InvalidUpdateError("ops, u, v and w must have equal lengths")
                for node in (*u, *v):
                    if type(node) is not int:  # not a JSON integer (also rejects true/false)
                        raise InvalidUpdateError(f"node id {node!r} is not a JSON integer")
                ops.extend([_CODES[x] if x in _CODES else Op.parse(x) for x in names])
                ws.extend([math.nan if x is None else float(x) for x in w])
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                raise InvalidUpdateError(f"{path}:{number}: bad update event: {exc}") from exc
            us.extend(u)
            vs.extend(v)
            lines.extend([number] * len(names))
    try:
        return UpdateBatch.build(ops, us, vs, ws)
    except InvalidUpdateError:
        for k, number in enumerate(lines):  # slow path: find the line of the first bad row
            try:
                UpdateBatch.build(ops[k : k + 1], us[k : k + 1], vs[k : k + 1], ws[k : k + 1])
            except InvalidUpdateError as exc:
                raise InvalidUpdateError(f"{path}:{number}: bad update: {exc}") from exc
        raise
