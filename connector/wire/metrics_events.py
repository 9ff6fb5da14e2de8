"""Quality-metrics events (contract ``schemas/quality-metrics.v1.json``): one per processed
batch and graph, with the background kappa check that entered with it. One encoder, one
decoder."""

from __future__ import annotations

from dataclasses import dataclass, fields

import orjson

from sparsiflow.connector.wire.fields import check_keys, count, graph_id, number, optional_text
from sparsiflow.engine.results import BatchReport, GraphStats, KappaReading

__all__ = ["Kappa", "MetricsEvent", "decode_metrics", "encode_metrics"]

_SIZES = tuple(f.name for f in fields(GraphStats))
_COUNTS = ("inserted", "deleted", "critical", "repaired", "recovered")
_OPTIONAL = frozenset(
    {"recovered", "kappa_unavailable", "kappa_batch", "kappa_seconds", "kappa_before"}
)
_REQUIRED = frozenset(
    {"graph", "batch", *GraphStats(0, 0, 0, 0).figures(), *_COUNTS, "engine_seconds",
     "latency_seconds", "kappa", "kappa_method", "produced_at"}
) - _OPTIONAL  # fmt: skip


@dataclass(frozen=True, slots=True)
class Kappa:
    """A kappa check by ``method`` of the graph as of ``batch``, taking ``seconds``: its
    ``value``, or None and why (``unavailable``, a one-line reason whose first word, before any
    ``:``, is its kind); ``before``: its estimate of H as it found it, before its recoveries
    and prunings."""

    value: float | None
    method: str
    unavailable: str | None = None
    batch: int | None = None
    seconds: float | None = None
    before: float | None = None

    @classmethod
    def of(cls, reading: KappaReading | None) -> Kappa | None:
        """The engine's reading as published (None: no check entered with the batch)."""
        if reading is None:
            return None
        return cls(
            reading.value,
            reading.method,
            reading.reason,
            reading.batch,
            reading.seconds,
            reading.before,
        )

    @property
    def failure_kind(self) -> str | None:
        """The reason's kind (e.g. ``numerical_breakdown``), a bounded label; None if measured."""
        return None if self.unavailable is None else self.unavailable.split(":", 1)[0]


@dataclass(frozen=True)
class MetricsEvent:
    """A quality-metrics event. ``counts``: inserted, deleted, critical, repaired, recovered;
    the densities are derived from ``stats``; ``kappa_method`` is None when ``kappa`` is;
    ``kappa_batch``, ``kappa_seconds`` and ``kappa_before`` describe the check (None when none
    entered)."""

    graph: str
    batch: int
    stats: GraphStats
    counts: dict[str, int]
    engine_seconds: float
    latency_seconds: float
    kappa: float | None
    kappa_method: str | None
    kappa_unavailable: str | None
    kappa_batch: int | None
    kappa_seconds: float | None
    produced_at: float
    kappa_before: float | None = None

    def encode(self) -> bytes:
        """The event's JSON bytes."""
        return orjson.dumps(
            {
                "graph": self.graph,
                "batch": self.batch,
                **self.stats.figures(),
                **self.counts,
                "engine_seconds": self.engine_seconds,
                "latency_seconds": self.latency_seconds,
                "kappa": self.kappa,
                "kappa_method": self.kappa_method,
                "kappa_unavailable": self.kappa_unavailable,
                "kappa_batch": self.kappa_batch,
                "kappa_seconds": self.kappa_seconds,
                "kappa_before": self.kappa_before,
                "produced_at": self.produced_at,
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
    return MetricsEvent(
        graph=graph,
        batch=report.batch,
        stats=report.stats,
        counts={name: getattr(report, name) for name in _COUNTS},
        engine_seconds=report.engine_seconds,
        latency_seconds=latency_seconds,
        kappa=None if kappa is None else kappa.value,
        kappa_method=None if kappa is None or kappa.value is None else kappa.method,
        kappa_unavailable=None if kappa is None else kappa.unavailable,
        kappa_batch=None if kappa is None else kappa.batch,
        kappa_seconds=None if kappa is None else kappa.seconds,
        produced_at=produced_at,
        kappa_before=None if kappa is None or kappa.value is None else kappa.before,
    ).encode()


def decode_metrics(value: bytes | None) -> MetricsEvent:
    """A quality-metrics event's JSON bytes as a typed event; raises ValueError if they break
    the contract or their densities disagree with their sizes (absent optional fields read as
    0 recovered edges and no ``kappa_unavailable``)."""
    try:
        doc = check_keys(orjson.loads(value or b""), _REQUIRED, _OPTIONAL)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    doc = {"recovered": 0, **doc}
    stats = GraphStats(**{k: count(doc, k) for k in _SIZES})
    for name, derived in stats.figures().items():  # the densities follow from the sizes
        if number(doc, name) != derived:
            raise ValueError(f"{name} {doc[name]!r} disagrees with the sizes ({derived!r})")
    kappa = None if doc["kappa"] is None else number(doc, "kappa")
    method = optional_text(doc, "kappa_method")
    if (kappa is None) != (method is None):
        raise ValueError("kappa_method is null exactly when kappa is")
    return MetricsEvent(
        graph=graph_id(doc),
        batch=count(doc, "batch"),
        stats=stats,
        counts={name: count(doc, name) for name in _COUNTS},
        engine_seconds=number(doc, "engine_seconds", minimum=0),
        latency_seconds=number(doc, "latency_seconds"),
        kappa=kappa,
        kappa_method=method,
        kappa_unavailable=optional_text(doc, "kappa_unavailable"),
        kappa_batch=None if doc.get("kappa_batch") is None else count(doc, "kappa_batch"),
        kappa_seconds=(
            None if doc.get("kappa_seconds") is None else number(doc, "kappa_seconds", minimum=0)
        ),
        produced_at=number(doc, "produced_at"),
        kappa_before=(
            None if doc.get("kappa_before") is None else number(doc, "kappa_before", minimum=0)
        ),
    )
