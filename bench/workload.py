"""The paper's protocol as data: a base graph, its bootstrap sparsifier H0, and the update
batches every mode and the rebuild see (identical for all of them).

Insertions: ``insert_frac * n`` edges of the full graph outside a random spanning forest, held
out of the base graph and inserted in random order (local insertions, :func:`update_stream`).
Deletions (the hard case): ``delete_frac * n`` edges drawn from H0 after the insertions. H0 is
a subgraph of every mode's H at that point (insertions only add to H), so every deletion hits
H in every mode and the stream is the same for all; edges of a random spanning forest of the
final graph are never deleted, so G stays connected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.graph.edges import EdgeList, locate
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.workloads.streams import spanning_forest, update_stream

__all__ = ["Workload", "build_workload"]


@dataclass(frozen=True)
class Workload:
    """Start state and update batches of one benchmark graph."""

    name: str
    full: EdgeList
    base: EdgeList
    h0: EdgeList
    inserts: tuple[UpdateBatch, ...]
    deletes: tuple[UpdateBatch, ...]

    @property
    def nodes(self) -> int:
        return self.base.n

    @property
    def phases(self) -> dict[str, tuple[UpdateBatch, ...]]:
        return {"insert": self.inserts, "delete": self.deletes}


def _batches(updates: UpdateBatch, count: int) -> tuple[UpdateBatch, ...]:
    """``count`` consecutive batches whose sizes differ by at most one (no empty ones)."""
    bounds = [round(i * len(updates) / count) for i in range(count + 1)]
    return tuple(updates.slice(a, b) for a, b in itertools.pairwise(bounds) if b > a)


def build_workload(
    name: str,
    full: EdgeList,
    insert_frac: float,
    delete_frac: float,
    batches: int,
    bootstrap_density: float,
    seed: int = 0,
) -> Workload:
    """Insertion and deletion batches for ``full`` (see the module docstring)."""
    stream = update_stream(full, insert_frac, 0.0, seed)
    base = stream.base
    h0 = base.subset(static_sparsifier(base.n, base.u, base.v, base.w, bootstrap_density))
    keep = spanning_forest(full, seed + 1)
    rows = locate(full, h0)
    candidates = rows[~keep[rows]]
    count = round(delete_frac * full.n)
    if count > candidates.shape[0]:
        raise ValueError(f"{name}: H0 has only {candidates.shape[0]} deletable edges")
    gone = np.random.default_rng([seed, 4]).choice(candidates, count, replace=False)
    deletes = UpdateBatch.build(
        np.full(count, Op.DELETE, np.int8), full.u[gone], full.v[gone], np.full(count, np.nan)
    )
    return Workload(
        name,
        full,
        base,
        h0,
        _batches(stream.batch(), batches),
        _batches(deletes, batches),
    )
