"""Named engine configurations over the benchmark protocol, one JSON line each.

For the figures that a threshold sweep does not give: DESIGN.md section 9's targets on one
graph (``default`` and ``dygrass`` at chosen thresholds, speed and kappa after both phases) and
the kappa control loop (``target_kappa``). Every run sees the same workload
(:func:`bench.workload.build_workload`: bootstrap at 10 %, 25 % |V| insertions then 1 % |V|
deletions from H0, 10 batches each, then batches without updates until no kappa check is
pending, as the worker settles a quiet graph) and ends with the exact kappa of (G, H) and of a
static rebuild of the final G at the same off-tree density::

    python -m bench.runs delaunay-2^20-lognormal default:K=7.8 dygrass:K=7.1
    python -m bench.runs delaunay-2^18-lognormal default:K=50,target=50 dygrass:K=25

A run is ``MODE[:K=threshold][,target=kappa][,change=f][,threads=t]``: ``K=auto`` derives the
threshold from the target, no ``K`` means 50; no ``target`` means off; ``change``: the
background checks' ``kappa_change`` (default the engine's with a target, else 0: the local
rule alone).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.profiles import GraphSpec
from bench.workload import Workload, build_workload
from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine, warm_up
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.exact import measure

__all__ = ["graph_spec", "parse_run", "run"]


def parse_run(text: str) -> EngineConfig:
    """``MODE[:K=x][,target=y][,change=f][,threads=t]`` as an engine configuration."""
    mode, _, rest = text.partition(":")
    parts = [part.partition("=") for part in rest.split(",") if part]
    options = {key: value for key, _, value in parts}
    unknown = set(options) - {"K", "target", "change", "threads"}
    malformed = any(not eq for _, eq, _ in parts) or unknown
    if malformed or mode not in ("default", "dygrass"):
        raise ValueError(
            f"bad run {text!r}: want MODE[:K=threshold][,target=kappa][,change=f][,threads=t]"
        )
    target = options.get("target")
    threshold = options.get("K", "50")
    return EngineConfig(
        mode=mode,  # type: ignore[arg-type]
        threshold=None if threshold == "auto" else float(threshold),
        target_kappa=None if target is None else float(target),
        kappa_change=float(options.get("change", EngineConfig.kappa_change if target else 0)),
        threads=int(options.get("threads", 1)),
    )


def run(work: Workload, config: EngineConfig) -> dict[str, Any]:
    """One configuration over both phases: rates, density, exact kappa, the rebuild's."""
    engine = Engine.from_graph(
        work.base.u,
        work.base.v,
        work.base.w,
        config=config,
        nodes=np.arange(work.nodes),
        sparsifier=(work.h0.u, work.h0.v),
    )
    out: dict[str, Any] = {"mode": config.mode, "threshold": config.local_threshold}
    out["target_kappa"] = config.target_kappa
    out["kappa_change"] = config.kappa_change
    out["threads"] = config.threads
    for phase, batches in work.phases.items():
        seconds, control, steps = [], [], 0
        for batch in batches:
            clock = time.perf_counter()
            report = engine.apply(batch)
            seconds.append(time.perf_counter() - clock)
            control.append(report.seconds.get("quality", 0.0))
            steps += report.walker_steps
        clock = time.perf_counter()
        for report in engine.settle():  # as the worker settles a quiet graph
            seconds.append(time.perf_counter() - clock)
            control.append(report.seconds.get("quality", 0.0))
            clock = time.perf_counter()
        updates = sum(len(b) for b in batches)
        out[phase] = {
            "updates_per_second": updates / sum(seconds),
            "median_batch_seconds": float(np.median(seconds)),
            "quality_wait_seconds_per_batch": float(np.mean(control)),
            "walker_steps_per_second": steps / sum(seconds),
            "off_tree_density": engine.stats().off_tree_density,
        }
    g = EdgeList(work.nodes, *engine.graph_edges())
    h = EdgeList(work.nodes, *engine.sparsifier_edges())
    density = engine.stats().off_tree_density
    clock = time.perf_counter()
    rebuilt = static_sparsifier(g.n, g.u, g.v, g.w, density)
    out["rebuild_seconds"] = time.perf_counter() - clock
    out["kappa"] = measure(g, h).kappa
    out["kappa_rebuild_same_density"] = measure(g, g.subset(rebuilt)).kappa
    out["engine_bytes_per_edge"] = engine.nbytes / g.m
    return out


def graph_spec(name: str) -> GraphSpec:
    """``FAMILY-2^K[-WEIGHTS]`` (e.g. ``delaunay-2^20-lognormal``) as a graph specification."""
    family, _, rest = name.partition("-2^")
    log2n, _, weights = rest.partition("-")
    return GraphSpec(family, int(log2n), weights or "unit")  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graph", help="e.g. delaunay-2^20-lognormal, grid-circuit-2^18")
    parser.add_argument(
        "runs", nargs="+", help="MODE[:K=threshold][,target=kappa][,change=f][,threads=t]"
    )
    args = parser.parse_args(argv)
    configs = [parse_run(text) for text in args.runs]
    for config in configs:
        warm_up(config)
    spec = graph_spec(args.graph)
    work = build_workload(spec.name, spec.build(), 0.25, 0.01, 10, 0.10)
    print(json.dumps({"graph": spec.name, "machine": machine_info()}), flush=True)
    for config in configs:
        print(json.dumps(run(work, config)), flush=True)


if __name__ == "__main__":
    main()
