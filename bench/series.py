"""One series of the protocol: an engine mode, or the static rebuild, over a workload's batches,
with per-batch figures, kappa (exact or estimated), timings and memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bench.machine import peak_rss_bytes, reset_peak_rss, rss_bytes
from bench.workload import Workload
from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.offline import replay, start_engine
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.quality.exact import measure
from sparsiflow.engine.results import BatchReport, GraphStats

__all__ = [
    "KappaProbe",
    "Policy",
    "Series",
    "graphs_after_batches",
    "run_engine",
    "run_rebuild",
    "sparsifier_of",
    "warm_up",
]

Policy = Literal["exact", "estimate", "none"]


@dataclass
class KappaProbe:
    """Measures kappa after a batch of the series ``label``: ``policy`` every batch, exact
    at the end of each phase.

    Every exact value that meets an estimate of the same (G, H) is kept in ``samples`` (the
    estimator's in-stream error: warm start from the previous batch's eigenvector, L_H
    factorized afresh).
    """

    policy: Policy
    label: str = ""
    tol: float = 1e-2
    samples: list[dict[str, Any]] = field(default_factory=list)
    _estimator: KappaEstimator | None = None

    def __call__(self, g: EdgeList, h: EdgeList, phase_end: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.policy == "estimate":
            if self._estimator is None:
                self._estimator = KappaEstimator(tol=self.tol)
            est = self._estimator.update(g, h)
            out.update(
                kappa_estimate=_finite(est.lambda_max),
                estimate_seconds=est.seconds,
                estimate_refactorized=est.refactorized,
            )
        if phase_end or self.policy == "exact":
            exact = measure(g, h)
            out.update(
                kappa=_finite(exact.kappa),
                lambda_max=_finite(exact.lambda_max),
                lambda_min=_finite(exact.lambda_min),
                kappa_seconds=exact.seconds,
            )
            if "kappa_estimate" in out and out["lambda_max"]:
                self.samples.append(
                    {
                        "pair": self.label,
                        "nodes": g.n,
                        "kind": "in-stream",
                        "tol": self.tol,
                        "exact": out["lambda_max"],
                        "estimate": out["kappa_estimate"],
                        "rel_error": (out["lambda_max"] - out["kappa_estimate"])
                        / out["lambda_max"],
                        "seconds": out["estimate_seconds"],
                        "refactorized": out["estimate_refactorized"],
                    }
                )
        return out


@dataclass
class Series:
    """Per-batch records and phase summaries of one series; ``finals`` holds H at the end of
    each phase (for the estimator check, not written out)."""

    name: str
    batches: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    finals: dict[str, tuple[EdgeList, EdgeList]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "phases": self.phases, "memory": self.memory}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def sparsifier_of(engine: Engine, n: int) -> tuple[EdgeList, EdgeList]:
    """(G, H) of an engine started on nodes 0..n-1, as canonical edge lists."""
    return EdgeList(n, *engine.graph_edges()), EdgeList(n, *engine.sparsifier_edges())


def warm_up(config: EngineConfig) -> float:
    """Run a tiny stream through ``config``'s kernels (Numba compilation or cache loading):
    insertions, then the deletion of an H edge that needs a repair. Returns its seconds."""
    start = time.perf_counter()
    ring = np.arange(64, dtype=np.int64)
    engine = start_engine(EdgeList.normalize(ring, (ring + 1) % 64), config)
    engine.apply(UpdateBatch.inserts(np.array([0, 5]), np.array([32, 40]), np.ones(2)))
    engine.apply(UpdateBatch.build([Op.DELETE], [10], [11]))
    return time.perf_counter() - start


def _phase_summary(records: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    """Totals of one phase; ``seconds`` are its engine times over the repeats (median used)."""
    updates = sum(r["updates"] for r in records)
    median = statistics.median(seconds)
    per_batch = [r["updates"] / r["engine_seconds"] for r in records if r["engine_seconds"] > 0]
    steps = sum(r.get("walker_steps", 0) for r in records)
    last = records[-1]
    return {
        "updates": updates,
        "engine_seconds": median,
        "engine_seconds_repeats": seconds,
        "updates_per_second": updates / median if median > 0 else None,
        "median_batch_updates_per_second": statistics.median(per_batch) if per_batch else None,
        "median_batch_seconds": statistics.median(r["engine_seconds"] for r in records),
        "walker_steps": steps,
        "walker_steps_per_second": steps / median if median > 0 and steps else None,
        **{
            k: last.get(k)
            for k in (
                "density",
                "off_tree_density",
                "edges_sparsifier",
                "kappa",
                "lambda_max",
                "lambda_min",
            )
        },
    }


@dataclass
class _Run:
    """One pass of an engine over the workload."""

    engine: Engine
    seconds: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    peak_rss: int = 0


def _run_once(
    work: Workload, config: EngineConfig, series: Series | None, probe: KappaProbe
) -> _Run:
    """Both phases; with a ``series``, kappa probes after every batch and H kept at phase
    ends. The peak RSS covers ``Engine.apply`` calls only (reset before each, read after)."""
    run = _Run(start_engine(work.base, config, sparsifier=work.h0))
    for phase, batches in work.phases.items():
        records: list[dict[str, Any]] = []

        def after(
            _: BatchReport,
            _size: int,
            phase: str = phase,
            records: list[dict[str, Any]] = records,
        ) -> None:
            run.peak_rss = max(run.peak_rss, peak_rss_bytes())
            if series is not None:
                g, h = sparsifier_of(run.engine, work.nodes)
                end = len(records) + 1 == len(work.phases[phase])
                records.append({"phase": phase, **probe(g, h, end)})
                if end:
                    series.finals[phase] = (g, h)
            reset_peak_rss()

        reset_peak_rss()
        result = replay(run.engine, list(batches), after)
        run.seconds[phase] = result.engine_seconds
        for figures, record in zip(result.batches, records or [{}] * len(batches), strict=True):
            run.records.append(
                {
                    **record,
                    **figures,
                    "phase": phase,
                    "updates": figures["inserted"] + figures["deleted"],
                }
            )
    return run


def run_engine(work: Workload, config: EngineConfig, probe: KappaProbe, repeats: int) -> Series:
    """The engine in ``config`` over both phases: the first run with kappa probes and memory
    figures, ``repeats - 1`` more runs for timing only. Phase times are the median of those
    (of the first run when ``repeats`` is 1); per-batch times are the first run's."""
    series = Series(config.mode)
    before = rss_bytes()
    first = _run_once(work, config, series, probe)
    runs = [(first.seconds, first.engine.stats().edges_sparsifier)]
    for _ in range(repeats - 1):  # keep only the figures: an engine of 2^20 nodes is big
        again = _run_once(work, config, None, probe)
        runs.append((again.seconds, again.engine.stats().edges_sparsifier))
    series.batches = first.records
    stats = first.engine.stats()
    series.memory = {
        "rss_before_bytes": before,
        "peak_rss_in_apply_bytes": first.peak_rss,
        "engine_bytes": first.engine.nbytes,
        "engine_bytes_per_graph_edge": first.engine.nbytes / stats.edges_graph,
        "deterministic_repeats": len({edges for _, edges in runs}) == 1,
    }
    timed = runs[1:] or runs  # the probing run's caches are disturbed between batches
    for phase in work.phases:
        records = [r for r in series.batches if r["phase"] == phase]
        series.phases[phase] = _phase_summary(records, [seconds[phase] for seconds, _ in timed])
    return series


def graphs_after_batches(work: Workload) -> Iterator[tuple[str, bool, EdgeList, int]]:
    """G after every batch of the workload: (phase, last batch of the phase?, G, updates).
    Within a batch, insertions apply before deletions (the protocol never mixes them)."""
    g = work.base
    for phase, batches in work.phases.items():
        for i, batch in enumerate(batches):
            put = batch.ops != Op.DELETE
            if put.any():
                g = EdgeList.normalize(
                    np.r_[g.u, batch.u[put]],
                    np.r_[g.v, batch.v[put]],
                    np.r_[g.w, batch.w[put]],
                    n=g.n,
                )
            if not put.all():
                gone = EdgeList.normalize(batch.u[~put], batch.v[~put], n=g.n).keys()
                g = g.subset(~np.isin(g.keys(), gone))
            yield phase, i + 1 == len(batches), g, len(batch)


def run_rebuild(work: Workload, densities: list[float], probe: KappaProbe) -> Series:
    """The static sparsifier rebuilt on G after every batch, at ``densities[b]`` off-tree
    density for batch b (the matched engine run's), timed per batch, with the peak RSS of
    the rebuild calls."""
    series = Series("rebuild")
    series.memory = {"rss_before_bytes": rss_bytes(), "peak_rss_in_rebuild_bytes": 0}
    for b, (phase, end, g, updates) in enumerate(graphs_after_batches(work)):
        reset_peak_rss()
        clock = time.perf_counter()
        mask = static_sparsifier(g.n, g.u, g.v, g.w, densities[b])
        seconds = time.perf_counter() - clock
        peak = max(series.memory["peak_rss_in_rebuild_bytes"], peak_rss_bytes())
        series.memory["peak_rss_in_rebuild_bytes"] = peak
        h = g.subset(mask)
        stats = GraphStats(g.n, g.m, h.m, components(h)[0])
        series.batches.append(
            {
                "phase": phase,
                "batch": b,
                "updates": updates,
                "engine_seconds": seconds,
                "density": stats.density,
                "off_tree_density": stats.off_tree_density,
                "edges_graph": g.m,
                "edges_sparsifier": h.m,
                **probe(g, h, end),
            }
        )
        if end:
            series.finals[phase] = (g, h)
    for phase in work.phases:
        records = [r for r in series.batches if r["phase"] == phase]
        series.phases[phase] = _phase_summary(records, [sum(r["engine_seconds"] for r in records)])
    return series
