"""What one kappa check costs in its parts: factorizing grounded L_H, one solve, one estimate
with H changed since the last one, and the exact kappa (``sparsiflow quality``'s method).

Per graph: the benchmark workload's G and bootstrap H (10 % off-tree edges); the estimator is
called once cold, then three times, each after 0.5 % |V| more edges of G entered H (medians)::

    python -m bench.pencil_speed delaunay-2^18-unit grid-circuit-2^18 --out FILE
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.emit import emit
from bench.machine import machine_info
from bench.runs import graph_spec
from bench.workload import build_workload
from sparsiflow.engine.graph.edges import locate
from sparsiflow.engine.quality.estimator import KappaEstimator
from sparsiflow.engine.quality.exact import measure
from sparsiflow.engine.quality.pencil import Factor, Grounding, grounded_laplacian

__all__ = ["pencil_costs"]


def _median_seconds(call: Callable[[], object], times: int) -> float:
    seconds = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def pencil_costs(name: str) -> dict[str, Any]:
    """The parts' seconds on the graph ``name`` (e.g. ``delaunay-2^18-unit``)."""
    spec = graph_spec(name)
    work = build_workload(spec.name, spec.build(), 0.25, 0.01, 10, 0.10)
    g, h = work.base, work.h0
    lh = grounded_laplacian(h, Grounding.of(h))
    factor = Factor(lh)
    rhs = np.random.default_rng(0).standard_normal(lh.shape[0])
    mask = np.zeros(g.m, np.bool_)
    mask[locate(g, h)] = True
    estimator = KappaEstimator()
    cold = _median_seconds(lambda: estimator.update(g, g.subset(mask)), 1)
    rng = np.random.default_rng(1)
    changed = []
    for _ in range(3):
        mask[rng.choice(np.flatnonzero(~mask), g.n // 200, replace=False)] = True
        estimate = estimator.update(g, g.subset(mask))
        changed.append(estimate.seconds)
    start = time.perf_counter()
    exact = measure(g, g.subset(mask))
    return {
        "graph": name,
        "nodes": g.n,
        "factor_seconds": _median_seconds(lambda: Factor(lh), 3),
        "factor_core_rows": factor.core_size,
        "solve_seconds": _median_seconds(lambda: factor.solve(rhs), 10),
        "estimate_cold_seconds": cold,
        "estimate_h_changed_seconds": statistics.median(changed),
        "exact_seconds": time.perf_counter() - start,
        "lambda_estimate": estimate.lambda_max,
        "lambda_exact": exact.lambda_max,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="+", help="e.g. delaunay-2^18-unit grid-circuit-2^18")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = {"machine": machine_info(), "graphs": [pencil_costs(name) for name in args.graphs]}
    return emit(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
