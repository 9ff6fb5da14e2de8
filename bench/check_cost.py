"""What holding the kappa target costs the engine, without a broker: `make bench-quality`'s
stream (a graph streamed in from empty as insertions, then 25 % |V| insertions and 1 % |V|
deletions) applied offline in batches, the graph then settled, for each graph given.

    python -m bench.check_cost [--nodes 131072] [--graphs delaunay,delaunay-lognormal,...]
        [--batch 10000] [--engine KEY=VALUE ...] [--out FILE]

Per graph: the wall seconds of the batches and the settling (checks run in their process as
in the worker), the seconds the batches waited for checks, the checks' own seconds (summed
from their readings), their count, the highest estimate a check found before recovering, and
the exact kappa and off-tree density of the final H. BLAS on one thread. Prints JSON with the
machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bench.emit import emit
from bench.machine import machine_info
from sparsiflow.connector.settings import EngineSettings
from sparsiflow.engine.engine import Engine, warm_up
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.engine.quality.exact import measure
from sparsiflow.workloads.families import build, delaunay, reweight
from sparsiflow.workloads.streams import update_stream

GRAPHS = ("delaunay", "delaunay-lognormal", "grid-circuit", "fem-mesh")


def _graph(name: str, nodes: int) -> EdgeList:
    """``delaunay-lognormal``: log-normal weights on the Delaunay graph; else a family's own."""
    if name == "delaunay-lognormal":
        return reweight(delaunay(nodes, seed=1), "lognormal", seed=1)
    return build(name, nodes, seed=1)  # type: ignore[arg-type]


def _replay(name: str, nodes: int, batch: int, settings: EngineSettings) -> dict[str, Any]:
    stream = update_stream(_graph(name, nodes), 0.25, 0.01, seed=1)
    base = UpdateBatch.inserts(stream.base.u, stream.base.v, stream.base.w)
    updates = UpdateBatch.concat([base, stream.batch()])
    engine = Engine(settings.config(), graph_id=name)
    waited = checked = worst = 0.0
    checks = 0
    start = time.perf_counter()
    reports = [engine.apply(updates.slice(s, s + batch)) for s in range(0, len(updates), batch)]
    reports += engine.settle()
    wall = time.perf_counter() - start
    for report in reports:
        waited += report.seconds.get("quality", 0.0)
        if report.kappa is not None:
            checks += 1
            checked += report.kappa.seconds
            worst = max(worst, report.kappa.before or 0.0)
    g = EdgeList.normalize(*engine.graph_edges())
    h = EdgeList.normalize(*engine.sparsifier_edges(), n=g.n)
    engine.close()
    return {
        "updates": len(updates),
        "wall_seconds": round(wall, 3),
        "waited_for_checks_seconds": round(waited, 3),
        "checks": checks,
        "check_seconds": round(checked, 3),
        "highest_estimate_before_recovery": round(worst, 2),
        "kappa": round(measure(g, h).kappa, 2),
        "off_tree_density": round(engine.stats().off_tree_density, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2**17)
    parser.add_argument("--graphs", default=",".join(GRAPHS))
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--engine", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = EngineSettings(**dict(item.split("=", 1) for item in args.engine))
    threadpool_limits(limits=1, user_api="blas")
    warm_up(settings.config())
    result: dict[str, Any] = {
        "benchmark": "check_cost",
        "nodes": args.nodes,
        "batch": args.batch,
        "engine": args.engine,
    }
    for name in args.graphs.split(","):
        result[name] = _replay(name, args.nodes, args.batch, settings)
    result["machine"] = machine_info()
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
