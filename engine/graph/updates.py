"""Edge-update batches: the engine's input, as columnar arrays with one validation rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.exceptions import InvalidUpdateError

__all__ = ["MAX_NODE_ID", "Op", "UpdateBatch"]

MAX_NODE_ID = 2**63 - 1
"""Node ids are integers in [0, 2^63)."""


class Op(IntEnum):
    """Update operations, as stored in ``UpdateBatch.ops``."""

    INSERT = 0
    DELETE = 1
    REWEIGHT = 2

    @classmethod
    def parse(cls, name: str) -> Op:
        """``"insert"`` -> ``Op.INSERT``; raises InvalidUpdateError for an unknown name."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise InvalidUpdateError(
                f"unknown op {name!r} (expected insert, delete or reweight)"
            ) from None


@dataclass(frozen=True)
class UpdateBatch:
    """A micro-batch of edge updates of one graph, in arrival order.

    ``w`` of a delete is ignored (NaN by convention). Construct with :meth:`build`, which
    validates every row; the engine trusts a built batch.
    """

    ops: NDArray[np.int8]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    w: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ops.shape[0])

    @classmethod
    def build(
        cls,
        ops: Sequence[int] | NDArray[np.integer],
        u: Sequence[int] | NDArray[np.integer],
        v: Sequence[int] | NDArray[np.integer],
        w: Sequence[float] | NDArray[np.floating] | None = None,
    ) -> UpdateBatch:
        """Validate and pack columns; raises InvalidUpdateError naming the first bad row."""
        ops_a = np.asarray(ops, dtype=np.int8)
        n = ops_a.shape[0]
        u_a = _node_ids(u, "u")
        v_a = _node_ids(v, "v")
        w_a = np.full(n, np.nan) if w is None else np.asarray(w, dtype=np.float64)
        if not (u_a.shape == v_a.shape == w_a.shape == (n,)):
            raise InvalidUpdateError("ops, u, v and w must be 1-D arrays of equal length")
        bad_op = np.flatnonzero((ops_a < Op.INSERT) | (ops_a > Op.REWEIGHT))
        if bad_op.size:
            raise InvalidUpdateError(f"row {bad_op[0]}: unknown op code {ops_a[bad_op[0]]}")
        loops = np.flatnonzero(u_a == v_a)
        if loops.size:
            raise InvalidUpdateError(f"row {loops[0]}: self-loop on node {u_a[loops[0]]}")
        weighted = ops_a != Op.DELETE
        bad_w = np.flatnonzero(weighted & ~(np.isfinite(w_a) & (w_a > 0)))
        if bad_w.size:
            raise InvalidUpdateError(
                f"row {bad_w[0]}: weight must be finite and > 0, got {w_a[bad_w[0]]!r}"
            )
        return cls(ops_a, u_a, v_a, w_a)

    @classmethod
    def empty(cls) -> UpdateBatch:
        return cls.build([], [], [], [])

    @classmethod
    def inserts(
        cls, u: NDArray[np.integer], v: NDArray[np.integer], w: NDArray[np.floating]
    ) -> UpdateBatch:
        """A batch of insertions only (e.g. streaming a whole graph in)."""
        return cls.build(np.zeros(len(u), dtype=np.int8), u, v, w)

    def slice(self, start: int, stop: int) -> UpdateBatch:
        """Rows ``start:stop`` (already validated)."""
        return UpdateBatch(
            self.ops[start:stop], self.u[start:stop], self.v[start:stop], self.w[start:stop]
        )

    @staticmethod
    def concat(parts: Sequence[UpdateBatch]) -> UpdateBatch:
        """Rows of all parts, in order (already validated)."""
        if not parts:
            return UpdateBatch.empty()
        return UpdateBatch(
            np.concatenate([p.ops for p in parts]),
            np.concatenate([p.u for p in parts]),
            np.concatenate([p.v for p in parts]),
            np.concatenate([p.w for p in parts]),
        )


def _node_ids(values: Sequence[int] | NDArray[np.integer], name: str) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidUpdateError(f"{name}: node ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.max() > MAX_NODE_ID:
        raise InvalidUpdateError(f"{name}: node id {arr.max()} is not below 2^63")
    if arr.dtype.kind == "i" and arr.min() < 0:
        raise InvalidUpdateError(f"{name}: node id {arr.min()} is negative")
    return arr.astype(np.int64, copy=False)
