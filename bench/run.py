"""The engine benchmark: the paper's protocol per graph, modes matched at equal density.

    python -m bench.run --profile quick|full [--only GRAPH ...] [--thresholds K ...]
        [--out DIR] [--no-plots]

Writes ``DIR/results.json`` (after every graph, so a stopped run keeps what it finished),
``DIR/headline.md`` and the PNG plots; DIR defaults to ``bench/results/<profile>``. See
``bench/README.md`` for what every figure means.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.compare import MODES, compare_graph
from bench.estimator import check_estimator, summarize
from bench.machine import machine_info
from bench.plots import render
from bench.profiles import PROFILES, GraphSpec, Profile
from bench.report import headline, markdown
from bench.schema import SCHEMA_ID, json_ready, validate
from bench.series import warm_up
from bench.workload import build_workload
from sparsiflow.engine.config import EngineConfig

__all__ = ["main", "run_profile"]

RESULTS = Path(__file__).parent / "results"


class _Log:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {message}", file=sys.stderr, flush=True)


def _graph(spec: GraphSpec, profile: Profile, log: _Log) -> dict[str, Any]:
    clock = time.perf_counter()
    full = spec.build()
    work = build_workload(
        spec.name, full, profile.insert_frac, profile.delete_frac, profile.batches,
        profile.bootstrap_off_tree_density, profile.seed,
    )  # fmt: skip
    build_seconds = time.perf_counter() - clock
    log(f"{spec.name}: {full.n} nodes, {full.m} edges ({build_seconds:.1f} s to build)")
    out = compare_graph(work, profile, log)
    series, samples = out.pop("_series"), out.pop("_samples")
    calls = list(samples)
    if work.nodes <= profile.estimator_limit:
        pairs = {
            name: (*series[name].finals["insert"], series[name].phases["insert"]["lambda_max"])
            for name in ("default", "rebuild")
            if series[name].phases["insert"].get("lambda_max")
        }
        calls += check_estimator(pairs, profile.estimator_tolerances)
    for call in calls:
        call["graph"] = spec.name
    return {
        "name": spec.name,
        "family": spec.family,
        "log2n": spec.log2n,
        "weights": spec.weights if spec.family == "delaunay" else None,
        "nodes": full.n,
        "edges": full.m,
        "insertions": sum(len(b) for b in work.inserts),
        "deletions": sum(len(b) for b in work.deletes),
        "build_seconds": build_seconds,
        **out,
        "load_average_after": list(os.getloadavg()),
        "_calls": calls,
    }


def run_profile(profile: Profile, out: Path, plots: bool = True) -> dict[str, Any]:
    """Run ``profile``; write results.json, headline.md and the plots into ``out``."""
    log = _Log()
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "profile": dataclasses.asdict(profile) | {"graphs": [g.name for g in profile.graphs]},
        "machine": machine_info(),
        "warmup_seconds": {m: warm_up(EngineConfig(mode=m)) for m in MODES},
        "graphs": [],
        "estimator": {"calls": [], "summary": []},
        "headline": [],
        "seconds": 0.0,
    }
    log(f"profile {profile.name}: warm-up (Numba) {result['warmup_seconds']}")
    for spec in profile.graphs:
        graph = _graph(spec, profile, log)
        result["estimator"]["calls"] += graph.pop("_calls")
        result["estimator"]["summary"] = summarize(result["estimator"]["calls"])
        result["graphs"].append(graph)
        result["headline"].append(headline(graph))
        result["seconds"] = time.perf_counter() - log.start
        result = json_ready(result)
        validate(result)
        (out / "results.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    (out / "headline.md").write_text(markdown(result))
    if plots:
        render(result, out)
    log(f"done: {out}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sparsiflow engine benchmark")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--only", nargs="+", default=(), metavar="GRAPH", help="graph names")
    parser.add_argument("--out", type=Path, help="output folder (default bench/results/PROFILE)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--thresholds", nargs="+", type=float, metavar="K", help="override the K grid swept"
    )
    args = parser.parse_args(argv)
    try:
        profile = PROFILES[args.profile].select(tuple(args.only))
    except ValueError as exc:
        parser.error(str(exc))
    if args.thresholds:
        profile = dataclasses.replace(profile, thresholds=tuple(sorted(args.thresholds)))
    result = run_profile(profile, args.out or RESULTS / profile.name, plots=not args.no_plots)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
