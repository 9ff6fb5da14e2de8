"""The engine's acceptance table, through the user's commands only (``sparsiflow generate``,
``replay``, ``sparsify``, ``quality`` run as subprocesses).

One generated graph and its update stream (25 % |V| local insertions, then 1 % |V| deletions of
random non-forest edges); every run replays the insertions in 10 batches, then the deletions in
10 batches starting from the first replay's G and H, and ends with the exact kappa; the
invariants are checked from the written files (:func:`replay_holds`). A fresh
``sparsify`` of each run's final graph at the run's off-tree density is the rebuild it is
compared with::

    python -m bench.replay_table delaunay-2^18-unit default:K=11.4 dygrass:K=6.45 \\
        default:K=16,target=60

Runs are ``bench.runs`` specifications. Output: one JSON line per run under ``--out`` and a
Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.machine import machine_info
from bench.runs import graph_spec, parse_run
from sparsiflow.connector.wire.matrix_market import read_graph
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.graph.edges import EdgeList, components, locate

__all__ = ["cli_flags", "exact_quality", "replay_holds", "sparsiflow", "split_stream"]

_BATCHES = 10


def sparsiflow(*args: str) -> None:
    """Run one ``sparsiflow`` command, echoing it; fail loudly."""
    print("+ sparsiflow", " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "sparsiflow", *args], check=True)


def exact_quality(graph: Path, sparsifier: Path) -> dict[str, Any]:
    """``sparsiflow quality`` of a graph file and its sparsifier's: the exact kappa's report."""
    args = ("quality", "--graph", str(graph), "--sparsifier", str(sparsifier))
    print("+ sparsiflow", " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "sparsiflow", *args], check=True, capture_output=True
    )
    return dict(json.loads(done.stdout))


def cli_flags(config: EngineConfig) -> list[str]:
    """``sparsiflow replay`` flags for a run's configuration."""
    flags = ["--mode", config.mode]
    if config.threshold is not None:
        flags += ["--threshold", repr(config.threshold)]
    target = "off" if config.target_kappa is None else repr(config.target_kappa)
    flags += ["--target-kappa", target, "--kappa-change", repr(config.kappa_change)]
    return [*flags, "--threads", str(config.threads)]


def split_stream(path: Path, inserts: Path, deletes: Path) -> tuple[int, int]:
    """Write the insert and the delete events of a JSONL stream to two files (order kept)."""
    lines = path.read_bytes().splitlines()
    ops = [orjson.loads(line)["op"] for line in lines]
    inserts.write_bytes(
        b"".join(x + b"\n" for x, op in zip(lines, ops, strict=True) if op != "delete")
    )
    deletes.write_bytes(
        b"".join(x + b"\n" for x, op in zip(lines, ops, strict=True) if op == "delete")
    )
    count = sum(op == "delete" for op in ops)
    return len(lines) - count, count


def _weights(edges: EdgeList) -> dict[tuple[int, int], float]:
    return {(int(a), int(b)): float(w) for a, b, w in zip(edges.u, edges.v, edges.w, strict=True)}


def replay_holds(start: Path, out: Path) -> dict[str, bool]:
    """The invariants of one replay, from its files: H (``sparsifier.mtx``) is a subgraph of G
    (``graph.mtx``) with G's weights and as many components, and ``deltas.jsonl`` applied in
    order to the start H (``start``) gives H."""
    g, h = read_graph(out / "graph.mtx"), read_graph(out / "sparsifier.mtx")
    rows = locate(g, h)
    subgraph = bool((rows >= 0).all() and np.array_equal(g.w[rows], h.w))
    held = _weights(read_graph(start))
    fits = True
    for line in (out / "deltas.jsonl").read_bytes().splitlines():
        delta = orjson.loads(line)
        for a, b in delta["removed"]:
            fits &= held.pop((a, b), None) is not None
        for a, b, w in delta["reweighted"]:
            fits &= (a, b) in held
            held[(a, b)] = w
        for a, b, w in delta["added"]:
            fits &= (a, b) not in held
            held[(a, b)] = w
    return {
        "h_subgraph_of_g_with_g_weights": subgraph,
        "same_components": components(g)[0] == components(h)[0],
        "deltas_replay_to_h": fits and held == _weights(h),
    }


def _replay(text: str, work: Path, counts: tuple[int, int]) -> dict[str, Any]:
    """Both phases of one run; the figures of the table row."""
    config = parse_run(text)
    out = work / text.replace(":", "_").replace(",", "_").replace("=", "")
    first, second = out / "insert", out / "delete"
    flags = cli_flags(config)
    size = [str(math.ceil(n / _BATCHES)) for n in counts]
    sparsiflow(
        *("replay", "--graph", str(work / "g.mtx"), "--updates", str(work / "ins.jsonl")),
        *("--out", str(first), "--batch-size", size[0], *flags),
    )
    sparsiflow(
        *("replay", "--graph", str(first / "graph.mtx"), "--updates", str(work / "del.jsonl")),
        *("--sparsifier", str(first / "sparsifier.mtx"), "--out", str(second)),
        *("--batch-size", size[1], *flags, "--kappa"),
    )
    holds = [replay_holds(work / "h0.mtx", first), replay_holds(first / "sparsifier.mtx", second)]
    phases = [json.loads((d / "metrics.json").read_text()) for d in (first, second)]
    final = phases[1]["summary"]
    density = final["off_tree_density"]
    rebuilt = out / "rebuild.mtx"
    final_g = str(second / "graph.mtx")
    sparsiflow("sparsify", final_g, "-o", str(rebuilt), "--off-tree-density", repr(density))
    fresh = exact_quality(Path(final_g), rebuilt)
    control = [b["seconds"].get("control", 0.0) for p in phases for b in p["batches"]]
    return {
        "run": text,
        "density": final["density"],
        "off_tree_density": density,
        "kappa": final["quality"]["kappa"],
        "kappa_fresh_sparsify": fresh["kappa"],
        "insertions_per_second": phases[0]["summary"]["updates_per_engine_second"],
        "deletions_per_second": phases[1]["summary"]["updates_per_engine_second"],
        "control_seconds": sum(control),
        "engine_seconds": [p["summary"]["engine_seconds"] for p in phases],
        "invariants": {key: all(h[key] for h in holds) for key in holds[0]},
    }


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['run']} | {r['density']:.4f} | {r['off_tree_density']:.4f} | {r['kappa']:.1f} | "
        f"{r['kappa_fresh_sparsify']:.1f} | {r['insertions_per_second']:,.0f} | "
        f"{r['deletions_per_second']:,.0f} | {r['control_seconds']:.1f} | "
        f"{'yes' if all(r['invariants'].values()) else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graph", help="FAMILY-2^K[-WEIGHTS], e.g. delaunay-2^18-unit")
    parser.add_argument("runs", nargs="+", help="bench.runs specifications")
    parser.add_argument("--work", type=Path, default=Path(".cache/replay-table"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest"))
    args = parser.parse_args(argv)
    for text in args.runs:
        parse_run(text)  # fail before any work
    spec = graph_spec(args.graph)
    work = args.work / spec.name
    work.mkdir(parents=True, exist_ok=True)
    weights = ["--weights", spec.weights] if spec.family == "delaunay" else []
    sparsiflow(
        *("generate", spec.family, "--nodes", str(spec.nodes), "--out", str(work / "g.mtx")),
        *("--updates", str(work / "u.jsonl"), *weights),
    )
    counts = split_stream(work / "u.jsonl", work / "ins.jsonl", work / "del.jsonl")
    sparsiflow("sparsify", str(work / "g.mtx"), "-o", str(work / "h0.mtx"))  # replay's start H
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"replay-{spec.name}.jsonl"
    rows = []
    with target.open("w") as sink:
        sink.write(
            json.dumps({"graph": spec.name, "updates": counts, "machine": machine_info()}) + "\n"
        )
        for text in args.runs:
            rows.append(_replay(text, work, counts))
            sink.write(json.dumps(rows[-1]) + "\n")
            sink.flush()
    print(
        "| run | density | off-tree density | kappa | fresh sparsify at that density | "
        "insertions/s | deletions/s | control loop s (all batches) | invariants |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(_row(r))


if __name__ == "__main__":
    main()
