"""Output events: the sparsifier-delta and quality-metrics records of one processed batch
(contracts: ``schemas/sparsifier-delta.v1.json``, ``schemas/quality-metrics.v1.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from sparsiflow.engine.results import BatchReport, Delta

__all__ = ["Kappa", "SourceRange", "encode_delta", "encode_metrics"]


@dataclass(frozen=True, slots=True)
class SourceRange:
    """Input records a batch covers: one partition, offsets ``first..last`` inclusive."""

    partition: int
    first_offset: int
    last_offset: int


@dataclass(frozen=True, slots=True)
class Kappa:
    """Kappa measured with a batch by ``method``: its ``value``, or None and why
    (``unavailable``, a one-line reason whose first word, before any ``:``, is its kind)."""

    value: float | None
    method: str
    unavailable: str | None = None

    @property
    def failure_kind(self) -> str | None:
        """The reason's kind (e.g. ``numerical_breakdown``), a bounded label; None if measured."""
        return None if self.unavailable is None else self.unavailable.split(":", 1)[0]


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
            "added": _rows(delta.added_u, delta.added_v, delta.added_w),
            "removed": _rows(delta.removed_u, delta.removed_v),
            "reweighted": _rows(delta.reweighted_u, delta.reweighted_v, delta.reweighted_w),
            "recovered": _rows(delta.recovered_u, delta.recovered_v),
            "produced_at": produced_at,
        }
    )


def encode_metrics(
    graph: str,
    report: BatchReport,
    latency_seconds: float,
    kappa: Kappa | None,
    produced_at: float,
) -> bytes:
    """The quality-metrics event's JSON bytes for one batch report."""
    stats = report.stats
    event: dict[str, Any] = {
        "graph": graph,
        "batch": report.batch,
        "nodes": stats.nodes,
        "edges_graph": stats.edges_graph,
        "edges_sparsifier": stats.edges_sparsifier,
        "density": stats.density,
        "off_tree_density": stats.off_tree_density,
        "components": stats.components,
        "inserted": report.inserted,
        "deleted": report.deleted,
        "critical": report.critical,
        "repaired": report.repaired,
        "recovered": report.recovered,
        "engine_seconds": report.engine_seconds,
        "latency_seconds": latency_seconds,
        "kappa": None if kappa is None else kappa.value,
        "kappa_method": None if kappa is None or kappa.value is None else kappa.method,
        "kappa_unavailable": None if kappa is None else kappa.unavailable,
        "produced_at": produced_at,
    }
    return orjson.dumps(event)


def _rows(*columns: NDArray[np.int64] | NDArray[np.float64]) -> list[tuple[Any, ...]]:
    """Columns -> rows of Python scalars (``tolist`` converts in C; tuples encode as arrays)."""
    return list(zip(*(c.tolist() for c in columns), strict=True))
