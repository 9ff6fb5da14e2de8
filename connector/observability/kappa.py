"""Kappa as the worker reports it: failed checks counted and logged once per graph, and the
dense renumbering that exact measurements of a live graph need. (The checks themselves run in
the engine: ``sparsiflow.engine.quality.keeper``.)"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.wire.metrics_events import Kappa
from sparsiflow.engine.graph.edges import EdgeList

__all__ = ["KappaFailures", "dense_pair"]

log = logging.getLogger(__name__)

Columns = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


def dense_pair(graph: Columns, sparsifier: Columns) -> tuple[EdgeList, EdgeList]:
    """G and H as edge lists on dense ids ``0..n-1`` (external ids may be sparse, up to 2^63)."""
    ids = np.unique(np.concatenate([graph[0], graph[1]]))

    def renumber(cols: Columns) -> EdgeList:
        u, v, w = cols
        return EdgeList.normalize(np.searchsorted(ids, u), np.searchsorted(ids, v), w, n=ids.size)

    return renumber(graph), renumber(sparsifier)


class KappaFailures:
    """Kappa estimates that could not be made: counted by the kind of their reason (a bounded
    label) and logged once per graph."""

    def __init__(self, metrics: WorkerMetrics | None) -> None:
        self._metrics = metrics
        self._logged: set[str] = set()

    def record(self, graph: str, kappa: Kappa) -> None:
        """Count ``kappa`` (one whose value is None for a reason); log it if it is the first of
        ``graph``."""
        assert kappa.failure_kind is not None
        if self._metrics is not None:
            self._metrics.record_measurement_failure("kappa", kappa.failure_kind)
        if graph not in self._logged:
            self._logged.add(graph)
            log.warning(
                "graph %r: kappa not estimated (%s); the stream goes on, and later failures of "
                "this graph are only counted in sparsiflow_measurement_failures_total",
                graph, kappa.unavailable,
            )  # fmt: skip
