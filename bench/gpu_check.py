"""GPU check: the walk backends' parity and speed on Delaunay graphs of 2^20 and 2^22 nodes.

Runs the dyGRASS insertion walks of one batch (25 % |V| / 10 local insertions) on the Numba
(CPU, one core) and CuPy backends from the same engine state, checks that both decide every
edge the same way, and writes walker steps per second and the ratio to JSON. Meant for a
machine with a CUDA GPU: ``bench/gpu_check.sh`` runs it with the GPU parity tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.offline import LOCAL_RULES_ONLY
from sparsiflow.engine.rules.insertion import needs_walks
from sparsiflow.engine.walks.backends import make_backend
from sparsiflow.engine.walks.rng import update_keys
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream

__all__ = ["main"]


def _case(exponent: int, walkers: int, steps: int) -> dict[str, Any]:
    n = 2**exponent
    clock = time.perf_counter()
    stream = update_stream(delaunay(n, weights="lognormal", seed=1), 0.25, 0.0, seed=1)
    base, batch = stream.base, stream.batch().slice(0, n // 40)
    config = EngineConfig(
        mode="dygrass", threshold=50.0, walkers=walkers, max_steps=steps, **LOCAL_RULES_ONLY
    )
    engine = Engine.from_graph(base.u, base.v, base.w, config=config, nodes=np.arange(n))
    setup = time.perf_counter() - clock
    ends = engine._ids.lookup(np.stack([batch.u, batch.v], axis=1).ravel()).reshape(-1, 2)
    engine.apply(batch.slice(0, 0))  # nothing: just warms the kernels
    s = engine._store.arrays
    p, q = ends[:, 0], ends[:, 1]
    critical = np.zeros(p.shape[0], np.bool_)
    walk = needs_walks(s, engine._comp, np.minimum(p, q), np.maximum(p, q), critical)
    keys = update_keys(0, 1, 0, 0, p.shape[0])
    row: dict[str, Any] = {
        "nodes": n,
        "edges": engine.stats().edges_graph,
        "updates": int(walk.sum()),
        "walkers": walkers,
        "max_steps": steps,
        "setup_seconds": setup,
    }
    decisions = {}
    for name in ("numba", "cupy"):
        backend = make_backend(name)
        backend.insertion_walks(
            s, p[walk][:8], q[walk][:8], batch.w[walk][:8], keys[:8], 50.0, 4, 4
        )
        clock = time.perf_counter()
        found, taken = backend.insertion_walks(
            s, p[walk], q[walk], batch.w[walk], keys[walk], 50.0, walkers, steps
        )
        seconds = time.perf_counter() - clock
        decisions[name] = found
        row[name] = {
            "seconds": seconds,
            "steps": taken,
            "steps_per_second": taken / seconds,
            "updates_per_second": float(walk.sum()) / seconds,
        }
    row["identical_decisions"] = bool(np.array_equal(decisions["numba"], decisions["cupy"]))
    row["speedup"] = row["numba"]["seconds"] / row["cupy"]["seconds"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exponents", type=int, nargs="+", default=[20, 22])
    parser.add_argument("--walkers", type=int, default=512)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/gpu_check.json"))
    args = parser.parse_args()
    import cupy

    device = cupy.cuda.runtime.getDeviceProperties(0)
    result = {
        "machine": {
            "node": platform.node(),
            "cpu": platform.processor(),
            "gpu": device["name"].decode(),
        },
        "cases": [_case(e, args.walkers, args.max_steps) for e in args.exponents],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
