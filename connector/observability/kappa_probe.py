"""Online kappa of a live graph, measured by the worker every N batches: the Lanczos estimator
of ``sparsiflow.engine.quality.estimator`` (factorization cached while H is unchanged) on
dense-renumbered copies of G and H. With H a subgraph of G carrying G's weights, lambda_max of (L_G,
L_H) is kappa."""

from __future__ import annotations

import logging
import math

import numpy as np
from numpy.typing import NDArray

from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.wire.metrics_events import Kappa
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.exceptions import failure_reason
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.estimator import KappaEstimator

__all__ = ["INFINITE", "KappaFailures", "KappaProbe", "dense_pair"]

log = logging.getLogger(__name__)

INFINITE = "sparsifier_disconnected: H has more connected components than G (kappa is infinite)"

Columns = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


def dense_pair(graph: Columns, sparsifier: Columns) -> tuple[EdgeList, EdgeList]:
    """G and H as edge lists on dense ids ``0..n-1`` (external ids may be sparse, up to 2^63)."""
    ids = np.unique(np.concatenate([graph[0], graph[1]]))

    def renumber(cols: Columns) -> EdgeList:
        u, v, w = cols
        return EdgeList.normalize(np.searchsorted(ids, u), np.searchsorted(ids, v), w, n=ids.size)

    return renumber(graph), renumber(sparsifier)


class KappaProbe:
    """Kappa estimates of one graph, warm-started from the previous one."""

    METHOD = "lanczos"

    def __init__(self) -> None:
        self._estimator = KappaEstimator()

    def measure(self, engine: Engine) -> Kappa | None:
        """Kappa of the engine's H against its G now (None when G has no edge), or the reason
        there is none: the estimator's, an infinite kappa (H has more components than G, which
        the engine's invariants exclude), or any failure of the measurement (``error: ...``).
        Never raises: a measurement is optional and must not stop the batch it describes."""
        try:
            return self._measure(engine)
        except Exception as exc:
            return Kappa(None, self.METHOD, failure_reason("error", exc))

    def _measure(self, engine: Engine) -> Kappa | None:
        g, h = dense_pair(engine.graph_edges(), engine.sparsifier_edges())
        if g.m == 0:
            return None
        estimate = self._estimator.update(g, h)
        if estimate.reason is not None:
            return Kappa(None, self.METHOD, estimate.reason)
        if math.isinf(estimate.lambda_max):
            return Kappa(None, self.METHOD, INFINITE)
        return Kappa(estimate.lambda_max, self.METHOD)


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
