"""Prometheus metrics of the worker: one bundle on an injected registry, and the /metrics server.

Build one :class:`WorkerMetrics` per worker against its own ``CollectorRegistry`` (never the
global one) and serve that registry with :func:`serve_metrics`. Names carry the ``sparsiflow_``
prefix and their unit (``_seconds``, ``_bytes``, ``_total``); every label is bounded: rejection
reasons are the :class:`~sparsiflow.connector.wire.rejections.Reason` values, graph ids are capped
by ``max_graph_labels`` (later graphs share the label :data:`OTHER_GRAPH`), partitions by the
topic's partition count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from sparsiflow.connector.wire.rejections import Reason
from sparsiflow.engine.results import BatchReport, GraphStats

__all__ = [
    "DEFAULT_METRICS_PORT",
    "GRAPH_EVENTS",
    "OTHER_GRAPH",
    "REJECT_REASONS",
    "MetricsServer",
    "WorkerMetrics",
    "serve_metrics",
]

DEFAULT_METRICS_PORT: Final = 9108
OTHER_GRAPH: Final = "_other"
GRAPH_EVENTS: Final = ("evicted", "reloaded", "dropped")
REJECT_REASONS: Final = (*(reason.value for reason in Reason), "other")
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
BATCH_SIZE_BUCKETS: Final = tuple(float(4**k) for k in range(11))  # 1 .. 1,048,576 updates
_STAT_GAUGES: Final = (  # GraphStats field, metric name (after the prefix), help
    ("nodes", "graph_nodes", "Nodes of G."),
    ("edges_graph", "graph_edges", "Edges of G."),
    ("edges_sparsifier", "sparsifier_edges", "Edges of H."),
    ("components", "graph_components", "Connected components of G (and H)."),
    ("density", "sparsifier_density", "Edges of H per node."),
    (
        "off_tree_density",
        "sparsifier_off_tree_density",
        "Edges of H beyond a spanning forest per node.",
    ),
)


def _package_version() -> str:
    try:
        return version("sparsiflow")
    except PackageNotFoundError:
        return "unknown"


class _GraphLabels:
    """Label value per graph id: the first ``limit`` ids keep theirs, the rest share OTHER."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"max_graph_labels must be >= 0, got {limit}")
        self._limit = limit
        self._named: set[str] = set()

    def has_own(self, graph: str) -> bool:
        """Whether ``graph`` already has a label of its own."""
        return graph in self._named

    def __call__(self, graph: str) -> str:
        if graph in self._named:
            return graph
        if graph != OTHER_GRAPH and len(self._named) < self._limit:
            self._named.add(graph)
            return graph
        return OTHER_GRAPH


class WorkerMetrics:
    """All metrics of one worker, registered on ``registry``; thread-safe.

    Call from the worker: :meth:`record_consumed` per input record, :meth:`record_rejected` per
    record sent to the DLQ, :meth:`record_dlq_failure` per dead-letter record the DLQ topic did
    not take, :meth:`record_batch` once a batch's delta and metrics events are
    delivered, :meth:`record_kappa` per kappa estimate, :meth:`record_measurement_failure` per
    kappa that could not be measured, :meth:`set_consumer_lag` on each lag poll,
    :meth:`record_checkpoint` after each checkpoint, :meth:`track_in_flight` around a batch,
    :meth:`set_engine_info` / :meth:`set_kappa_bound` / :meth:`set_worker_up` on state changes,
    :meth:`forget_graph` when a graph moves to another worker. The alerts rely on
    ``set_worker_up(True)`` once the agents run (0 pages), on ``record_checkpoint`` (none for 30
    minutes pages) and on ``set_consumer_lag`` (lag and no-progress alerts).

    Graphs beyond ``max_graph_labels`` are aggregated under :data:`OTHER_GRAPH`: counters add
    up; size gauges are sums and densities are computed from the sums; kappa (and kappa before
    recovering) is the worst (largest) estimate and its timestamp the oldest.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        max_graph_labels: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._label = _GraphLabels(max_graph_labels)
        self._other_stats: dict[str, GraphStats] = {}
        self._other_kappa: dict[str, tuple[float, float, float]] = {}
        self._lag_keys: set[tuple[str, str]] = set()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"sparsiflow_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"sparsiflow_{name}", doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...] = LATENCY_BUCKETS
        ) -> Histogram:
            return Histogram(f"sparsiflow_{name}", doc, buckets=buckets, registry=registry)

        g = ("graph",)
        self._consumed = counter("events_consumed_total", "Input records consumed.")
        self._pauses = counter(
            "input_pauses_total",
            "Times an input partition was paused because too many of its updates wait in open "
            "batches (SPARSIFLOW_PAUSE_PENDING_UPDATES).",
        )
        self._rejected = counter(
            "events_rejected_total", "Input records sent to the DLQ, by reason.", ("reason",)
        )
        for reason in REJECT_REASONS:
            self._rejected.labels(reason)
        self._dlq_failures = counter(
            "dlq_failures_total",
            "Dead-letter records the DLQ topic did not take; the worker stops at the first.",
        )
        self._updates = counter(
            "updates_applied_total", "Edge updates applied to G, by op.", ("graph", "op")
        )
        self._unknown = counter(
            "updates_unknown_edge_total", "Deletes and reweights of edges not in G.", g
        )
        self._per_batch = tuple(
            counter(name, doc, g)
            for name, doc in (
                ("batches_total", "Micro-batches processed and published."),
                ("deltas_published_total", "Sparsifier-delta events delivered."),
                ("metrics_events_published_total", "Quality-metrics events delivered."),
            )
        )
        self._walker_steps = counter("walker_steps_total", "Random-walk steps taken.", g)
        self._added = counter(
            "sparsifier_edges_added_total",
            "Edges added to H, by cause: critical insert, deletion repair, kappa recovery.",
            ("graph", "cause"),
        )
        self._batch_size = histogram(
            "batch_size_updates", "Edge updates per micro-batch.", BATCH_SIZE_BUCKETS
        )
        self._event_to_delta = histogram(
            "event_to_delta_seconds", "Age of a batch's oldest event at delta delivery."
        )
        self._engine_time = histogram("engine_batch_seconds", "Engine time per micro-batch.")
        self._publish_time = histogram(
            "publish_seconds", "Time to deliver a batch's delta and metrics events."
        )
        self._stats = {field: gauge(name, doc, g) for field, name, doc in _STAT_GAUGES}
        self._kappa = gauge("kappa", "Last estimate of the condition number kappa(L_G, L_H).", g)
        self._kappa_time = gauge(
            "kappa_timestamp_seconds", "Unix time of the last kappa estimate.", g
        )
        self._kappa_before = gauge(
            "kappa_before",
            "Kappa the last check found before recovering or pruning: H as batches left it.",
            g,
        )
        self._kappa_bound = gauge(
            "kappa_bound", "Configured upper bound on kappa for alerting; 0 when none."
        )
        self._measurement_failures = counter(
            "measurement_failures_total",
            "Optional measurements (kappa) that failed; the batch went on without them.",
            ("measurement", "reason"),
        )
        self._lag = gauge(
            "consumer_lag_records",
            "Records behind the partition's end, per assigned input partition.",
            ("topic", "partition"),
        )
        self._in_flight = gauge("batches_in_flight", "Micro-batches being processed.")
        self._checkpoint_time = gauge(
            "checkpoint_timestamp_seconds", "Unix time of the last successful checkpoint."
        )
        self._checkpoint_size = gauge("checkpoint_size_bytes", "Size of the last checkpoint.")
        self._checkpoint_duration = histogram(
            "checkpoint_duration_seconds", "Time to write a checkpoint."
        )
        self._engine_info = Info(
            "sparsiflow_engine", "Engine backend and mode in use.", registry=registry
        )
        self._up = gauge("worker_up", "1 while the worker runs its stream agents, else 0.")
        self._graphs = gauge(
            "graphs",
            "Graphs held, by state: resident (in memory), parked, or quarantined (their delta "
            "log contradicts itself: records set aside to the DLQ).",
            ("state",),
        )
        for state in ("resident", "parked", "quarantined"):
            self._graphs.labels(state)
        self._graph_events = counter(
            "graph_lifecycle_total",
            "Graphs evicted to the state volume, reloaded from it, or dropped by a tombstone.",
            ("event",),
        )
        for event in GRAPH_EVENTS:
            self._graph_events.labels(event)
        gauge("worker_start_time_seconds", "Unix time the worker started.").set(clock())

    # --- per-record -------------------------------------------------------------------------
    def record_consumed(self, count: int = 1) -> None:
        """Count ``count`` input records read from the input topic (good or bad)."""
        self._consumed.inc(count)

    def record_pause(self) -> None:
        """Count one pause of an input partition by backpressure."""
        self._pauses.inc()

    def record_rejected(self, reason: Reason | str, count: int = 1) -> None:
        """Count records sent to the DLQ for ``reason``; a string that is no
        :class:`~sparsiflow.connector.wire.rejections.Reason` counts as ``other``."""
        label = str(reason)
        self._rejected.labels(label if label in REJECT_REASONS else "other").inc(count)

    def record_dlq_failure(self) -> None:
        """Count a dead-letter record that could not be written (the worker then stops)."""
        self._dlq_failures.inc()

    # --- per-batch --------------------------------------------------------------------------
    def record_batch(
        self,
        graph: str,
        report: BatchReport,
        *,
        updates: int,
        event_to_delta_seconds: float,
        publish_seconds: float,
    ) -> None:
        """Record a batch of ``graph`` whose delta and metrics events were delivered.

        ``updates``: edge updates in the batch; ``event_to_delta_seconds``: age of its oldest
        event at delivery; ``publish_seconds``: time spent delivering. Engine time and the
        graph figures come from ``report``.
        """
        with self._lock:
            label = self._label(graph)
            if label == OTHER_GRAPH:
                self._other_stats[graph] = report.stats
                self._refresh_other()
            else:
                self._set_stats(label, report.stats)
        for op, n in (
            ("insert", report.inserted),
            ("delete", report.deleted),
            ("reweight", report.reweighted),
        ):
            self._updates.labels(label, op).inc(n)
        for cause, n in (
            ("critical", report.critical),
            ("repair", report.repaired),
            ("recovery", report.recovered),
        ):
            self._added.labels(label, cause).inc(n)
        self._unknown.labels(label).inc(report.unknown)
        self._walker_steps.labels(label).inc(report.walker_steps)
        for counter in self._per_batch:
            counter.labels(label).inc()
        self._batch_size.observe(updates)
        self._engine_time.observe(report.engine_seconds)
        self._event_to_delta.observe(event_to_delta_seconds)
        self._publish_time.observe(publish_seconds)

    def record_kappa(
        self, graph: str, kappa: float, at: float | None = None, before: float | None = None
    ) -> None:
        """Record a kappa estimate of ``graph`` made at Unix time ``at`` (default: now):
        ``kappa`` after the check's recoveries and prunings, ``before`` what it found (default:
        ``kappa``)."""
        when = self._clock() if at is None else at
        found = kappa if before is None else before
        with self._lock:
            label = self._label(graph)
            if label == OTHER_GRAPH:
                self._other_kappa[graph] = (kappa, when, found)
                self._refresh_other()
            else:
                self._kappa.labels(label).set(kappa)
                self._kappa_time.labels(label).set(when)
                self._kappa_before.labels(label).set(found)

    def record_measurement_failure(self, measurement: str, reason: str) -> None:
        """Count a failed optional ``measurement`` (e.g. ``kappa``) by the kind of ``reason``
        (a bounded label such as ``numerical_breakdown``, not the full message)."""
        self._measurement_failures.labels(measurement, reason).inc()

    @contextmanager
    def track_in_flight(self) -> Iterator[None]:
        """Context manager: the batch inside counts in ``sparsiflow_batches_in_flight``."""
        with self._in_flight.track_inprogress():
            yield

    # --- state ------------------------------------------------------------------------------
    def set_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the lag series with ``{(topic, partition): records behind}`` of the current
        assignment; partitions no longer assigned disappear."""
        keys = {(topic, str(partition)) for topic, partition in lags}
        with self._lock:
            for key in self._lag_keys - keys:
                self._lag.remove(*key)
            for (topic, partition), lag in lags.items():
                self._lag.labels(topic, str(partition)).set(lag)
            self._lag_keys = keys

    def record_checkpoint(
        self, *, seconds: float, size_bytes: int, at: float | None = None
    ) -> None:
        """Record a successful checkpoint that took ``seconds`` and wrote ``size_bytes``."""
        self._checkpoint_time.set(self._clock() if at is None else at)
        self._checkpoint_size.set(size_bytes)
        self._checkpoint_duration.observe(seconds)

    def set_engine_info(self, *, backend: str, mode: str) -> None:
        """Publish backend (numpy, numba, cupy) and mode as ``sparsiflow_engine_info``."""
        self._engine_info.info({"backend": backend, "mode": mode, "version": _package_version()})

    def set_kappa_bound(self, bound: float | None) -> None:
        """Set the kappa bound the ``SparsiflowKappaAboveBound`` alert compares against."""
        self._kappa_bound.set(bound or 0.0)

    def set_worker_up(self, up: bool) -> None:
        """1 once the worker's agents run, 0 while starting or stopping (the initial value)."""
        self._up.set(1 if up else 0)

    def set_graph_counts(self, resident: int, parked: int, quarantined: int = 0) -> None:
        """Graphs held in memory, parked (evicted or dropped) and quarantined (a contradictory
        delta log: not published, their records dead-lettered)."""
        self._graphs.labels("resident").set(resident)
        self._graphs.labels("parked").set(parked)
        self._graphs.labels("quarantined").set(quarantined)

    def record_graph_event(self, event: str) -> None:
        """Count a graph ``event`` (one of :data:`GRAPH_EVENTS`)."""
        self._graph_events.labels(event).inc()

    def forget_graph(self, graph: str) -> None:
        """Drop the gauges of a graph this worker no longer owns (its counters stay)."""
        with self._lock:
            if self._label.has_own(graph):
                for metric in (*self._stats.values(), *self._kappa_gauges):
                    _remove(metric, graph)
            else:
                self._other_stats.pop(graph, None)
                self._other_kappa.pop(graph, None)
                self._refresh_other()

    # --- helpers ----------------------------------------------------------------------------
    def _set_stats(self, label: str, stats: GraphStats) -> None:
        for field, metric in self._stats.items():
            metric.labels(label).set(getattr(stats, field))

    def _refresh_other(self) -> None:
        """Re-derive the OTHER_GRAPH gauges from the overflow graphs' last figures."""
        parts = self._other_stats.values()
        if parts:
            total = GraphStats(
                nodes=sum(p.nodes for p in parts),
                edges_graph=sum(p.edges_graph for p in parts),
                edges_sparsifier=sum(p.edges_sparsifier for p in parts),
                components=sum(p.components for p in parts),
            )
            self._set_stats(OTHER_GRAPH, total)
        else:
            for metric in self._stats.values():
                _remove(metric, OTHER_GRAPH)
        if self._other_kappa:
            kappas, times, found = zip(*self._other_kappa.values(), strict=True)
            self._kappa.labels(OTHER_GRAPH).set(max(kappas))
            self._kappa_time.labels(OTHER_GRAPH).set(min(times))
            self._kappa_before.labels(OTHER_GRAPH).set(max(found))
        else:
            for metric in self._kappa_gauges:
                _remove(metric, OTHER_GRAPH)

    @property
    def _kappa_gauges(self) -> tuple[Gauge, ...]:
        return self._kappa, self._kappa_time, self._kappa_before


def _remove(metric: Gauge, label: str) -> None:
    with suppress(KeyError):  # never set for this label
        metric.remove(label)


@dataclass
class MetricsServer:
    """A running /metrics HTTP server; ``port`` is the bound port (useful with port 0)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(
    registry: CollectorRegistry, port: int = DEFAULT_METRICS_PORT, addr: str = "0.0.0.0"
) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server, thread)
