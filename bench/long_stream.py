"""Density and kappa over a long mixed stream, with the default configuration (target 100).

G: a Delaunay graph (log-normal weights) less 50 % |V| edges off a spanning forest; then
``--batches`` batches, each a share of those edges inserted, as many random edges of G
reweighted (weight times e^N(0,1)) and a share of 5 % |V| edges deleted; then the graph is
settled. Per batch: off-tree density of H, the check that entered (estimate, edges recovered
and pruned); at the end the exact kappa and a static rebuild's at the same density::

    python -m bench.long_stream --nodes 65536 --batches 60 --out FILE
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.emit import emit
from bench.machine import machine_info
from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine, warm_up
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.quality.exact import measure
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream

__all__ = ["long_stream"]


def _batches(nodes: int, count: int, seed: int) -> tuple[EdgeList, list[UpdateBatch]]:
    stream = update_stream(delaunay(nodes, weights="lognormal", seed=seed), 0.5, 0.05, seed)
    inserts, rng = stream.batch(), np.random.default_rng(seed)
    adds = inserts.slice(0, int((inserts.ops == Op.INSERT).sum()))
    deletes = inserts.slice(len(adds), len(inserts))
    base, out = stream.base, []
    for i in range(count):
        add = adds.slice(i * len(adds) // count, (i + 1) * len(adds) // count)
        rows = rng.choice(base.m, len(add), replace=False)
        weights = base.w[rows] * np.exp(rng.standard_normal(rows.shape[0]))
        again = UpdateBatch.build(
            np.full(rows.shape[0], Op.REWEIGHT), base.u[rows], base.v[rows], weights
        )
        drop = deletes.slice(i * len(deletes) // count, (i + 1) * len(deletes) // count)
        out.append(UpdateBatch.concat([add, again, drop]))
    return base, out


def long_stream(nodes: int, count: int, seed: int = 0) -> dict[str, Any]:
    """Run the stream through a default engine; per-batch and final figures."""
    config = EngineConfig()
    warm_up(config)
    base, batches = _batches(nodes, count, seed)
    engine = Engine.from_graph(base.u, base.v, base.w, config=config, nodes=np.arange(base.n))
    rows, start = [], time.perf_counter()
    for batch in [*batches, *[UpdateBatch.empty()] * 2]:
        report = engine.apply(batch)
        kappa = report.kappa
        rows.append(
            {
                "batch": report.batch,
                "off_tree_density": report.stats.off_tree_density,
                "kappa_estimate": None if kappa is None else kappa.value,
                "recovered": report.recovered,
                "pruned": int(report.delta.pruned_u.shape[0]),
            }
        )
    seconds = time.perf_counter() - start
    g = EdgeList.normalize(*engine.graph_edges())
    h = EdgeList.normalize(*engine.sparsifier_edges(), n=g.n)
    density = engine.stats().off_tree_density
    rebuilt = g.subset(static_sparsifier(g.n, g.u, g.v, g.w, density))
    return {
        "nodes": nodes,
        "target_kappa": config.target_kappa,
        "batches": rows,
        "seconds": seconds,
        "off_tree_density": density,
        "kappa": measure(g, h).kappa,
        "kappa_rebuild_same_density": measure(g, rebuilt).kappa,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=65536)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = {"machine": machine_info(), **long_stream(args.nodes, args.batches)}
    return emit(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
