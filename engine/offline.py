"""The engine run offline over an update stream: what ``sparsiflow replay`` does, as a library.

No Kafka here: a graph snapshot and an update batch in, the engine applied batch by batch, and
per-batch figures out. The command adds the files; benchmarks call :func:`replay` directly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.engine.results import BatchReport

__all__ = [
    "LOCAL_RULES_ONLY",
    "ReplayResult",
    "batch_figures",
    "replay",
    "split_batches",
    "start_engine",
]

LOCAL_RULES_ONLY: dict[str, Any] = {"target_kappa": None, "kappa_change": 0.0, "bulk_growth": 0.0}
"""``EngineConfig`` arguments for the local rules alone (no kappa checks, no bulk builds): what
the threshold sweeps compare with the dyGRASS reference."""


def start_engine(
    graph: EdgeList,
    config: EngineConfig,
    sparsifier: EdgeList | None = None,
    off_tree_density: float = 0.10,
    graph_id: str = "replay",
) -> Engine:
    """An engine on G (node ids 0..n-1) with the given H, or the static sparsifier of G."""
    given = None if sparsifier is None else (sparsifier.u, sparsifier.v)
    return Engine.from_graph(
        graph.u,
        graph.v,
        graph.w,
        config=config,
        graph_id=graph_id,
        nodes=np.arange(graph.n),
        sparsifier=given,
        off_tree_density=off_tree_density,
    )


def split_batches(updates: UpdateBatch, size: int) -> Iterator[UpdateBatch]:
    """Consecutive batches of ``size`` updates (the last may be shorter)."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    for begin in range(0, len(updates), size):
        yield updates.slice(begin, begin + size)


def batch_figures(report: BatchReport) -> dict[str, Any]:
    """The per-batch entry of metrics.json."""
    return {
        "batch": report.batch,
        "inserted": report.inserted,
        "deleted": report.deleted,
        "reweighted": report.reweighted,
        "unknown": report.unknown,
        "critical": report.critical,
        "repaired": report.repaired,
        "recovered": report.recovered,
        "kappa": None if report.kappa is None else dataclasses.asdict(report.kappa),
        "walker_steps": report.walker_steps,
        "settled": report.settled,
        "engine_seconds": report.engine_seconds,
        "seconds": report.seconds,
        **report.stats.figures(),
    }


@dataclass
class ReplayResult:
    """Per-batch figures and totals of a replay."""

    batches: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0

    def summary(self, engine: Engine) -> dict[str, Any]:
        rate = self.updates / self.engine_seconds if self.engine_seconds > 0 else None
        return {
            "updates": self.updates,
            "batches": len(self.batches),
            "engine_seconds": self.engine_seconds,
            "wall_seconds": self.wall_seconds,
            "updates_per_engine_second": rate,
            **engine.stats().figures(),
            "engine_bytes": engine.nbytes,
        }


def replay(
    engine: Engine,
    batches: list[UpdateBatch],
    on_batch: Callable[[BatchReport, int], None] | None = None,
) -> ReplayResult:
    """Apply every batch in order, then settle the graph as the worker settles a quiet one
    (batches without updates until no kappa check is pending: the last one checked the final
    G); ``on_batch`` gets each report and its batch's update count. ``engine_seconds`` counts
    time inside ``Engine.apply``, ``wall_seconds`` everything."""
    result = ReplayResult()
    start = time.perf_counter()

    def applied(batch: UpdateBatch, report: BatchReport, seconds: float) -> None:
        result.engine_seconds += seconds
        result.updates += len(batch)
        result.batches.append(batch_figures(report))
        if on_batch is not None:
            on_batch(report, len(batch))

    for batch in batches:
        clock = time.perf_counter()
        report = engine.apply(batch)
        applied(batch, report, time.perf_counter() - clock)
    clock = time.perf_counter()
    for report in engine.settle():
        applied(UpdateBatch.empty(), report, time.perf_counter() - clock)
        clock = time.perf_counter()
    engine.close()
    result.wall_seconds = time.perf_counter() - start
    return result
