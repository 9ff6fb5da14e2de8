"""Holding a kappa target over a replay against rebuilding, through the user's commands only
(``sparsiflow generate``, ``sparsify``, ``replay``, ``quality`` run as subprocesses).

Per graph: its update stream's insertions (25 % |V|) replayed in 10 batches from the static
sparsifier, first by the local rule alone (no target, K = 50) to find the kappa reached without
a target, then with ``--target-kappa T``, T = 0.7x that kappa (the threshold following from
it). The held run's final G is then rebuilt twice with ``sparsify``: at the run's off-tree
density (a rebuild that promises no kappa) and with ``--target-kappa T`` (the rebuild that
makes the replay's promise). Kappas are exact (``quality``); seconds are those the commands
report (``replay``'s ``wall_seconds``, with every check and recovery; ``sparsify``'s own)::

    python -m bench.target_replay delaunay-2^18-unit grid-circuit-2^18 [--out FILE]

Output: JSON with the machine, a row per graph, and a Markdown table on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.emit import emit
from bench.machine import machine_info
from bench.replay_table import exact_quality, replay_holds, sparsiflow, split_stream
from bench.runs import graph_spec

__all__ = ["main", "reported_seconds"]

_BATCHES = 10
_SHARE = 0.7  # T as a share of the kappa reached without a target
_LOCAL_RULE = ("--target-kappa", "off", "--kappa-change", "0", "--threshold", "50")
_SECONDS = re.compile(r" in ([0-9.]+) s \(")


def reported_seconds(message: str) -> float:
    """The seconds in ``sparsify``'s closing line."""
    found = _SECONDS.search(message)
    if found is None:
        raise ValueError(f"no seconds in sparsify's output: {message!r}")
    return float(found.group(1))


def _sparsify(graph: Path, out: Path, *flags: str) -> float:
    """``sparsiflow sparsify``; the seconds it reports."""
    args = ("sparsify", str(graph), "-o", str(out), *flags)
    print("+ sparsiflow", " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "sparsiflow", *args], check=True, capture_output=True, text=True
    )
    print(done.stderr, end="", file=sys.stderr, flush=True)
    return reported_seconds(done.stderr)


def _replay(work: Path, out: Path, batch: int, *flags: str) -> dict[str, Any]:
    """``sparsiflow replay`` of the insertions from the static H, kappa measured exactly."""
    sparsiflow(
        *("replay", "--graph", str(work / "g.mtx"), "--sparsifier", str(work / "h0.mtx")),
        *("--updates", str(work / "ins.jsonl"), "--out", str(out)),
        *("--batch-size", str(batch), *flags, "--kappa"),
    )
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    return dict(summary)


def _graph_row(name: str, work: Path) -> dict[str, Any]:
    """Generate one graph and its stream; the local rule's run, the held run, both rebuilds."""
    spec = graph_spec(name)
    work.mkdir(parents=True, exist_ok=True)
    weights = ["--weights", spec.weights] if spec.family == "delaunay" else []
    sparsiflow(
        *("generate", spec.family, "--nodes", str(spec.nodes), "--out", str(work / "g.mtx")),
        *("--updates", str(work / "u.jsonl"), *weights),
    )
    inserts, _ = split_stream(work / "u.jsonl", work / "ins.jsonl", work / "del.jsonl")
    batch = math.ceil(inserts / _BATCHES)
    sparsiflow("sparsify", str(work / "g.mtx"), "-o", str(work / "h0.mtx"))
    alone = _replay(work, work / "local-rule", batch, *_LOCAL_RULE)
    target = round(_SHARE * alone["quality"]["kappa"], 1)
    held_dir = work / "held"
    held = _replay(work, held_dir, batch, "--target-kappa", repr(target))
    final_g = held_dir / "graph.mtx"
    density = held["off_tree_density"]
    at_density = _sparsify(final_g, work / "rebuild.mtx", "--off-tree-density", repr(density))
    to_target = _sparsify(final_g, work / "rebuild-t.mtx", "--target-kappa", repr(target))
    rebuilt = exact_quality(final_g, work / "rebuild-t.mtx")
    return {
        "graph": spec.name,
        "insertions": inserts,
        "kappa_without_target": alone["quality"]["kappa"],
        "off_tree_density_without_target": alone["off_tree_density"],
        "target_kappa": target,
        "kappa": held["quality"]["kappa"],
        "off_tree_density": density,
        "wall_seconds": held["wall_seconds"],
        "engine_seconds": held["engine_seconds"],
        "static_kappa_same_density": exact_quality(final_g, work / "rebuild.mtx")["kappa"],
        "rebuild_seconds": at_density,
        "rebuild_to_target_seconds": to_target,
        "rebuild_to_target_kappa": rebuilt["kappa"],
        "rebuild_to_target_off_tree_density": rebuilt["off_tree_density"],
        "invariants": replay_holds(work / "h0.mtx", held_dir),
    }


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['graph']} | {r['kappa_without_target']:.1f} | {r['target_kappa']:.1f} | "
        f"{r['kappa']:.1f} | {r['off_tree_density']:.4f} | {r['static_kappa_same_density']:.1f} | "
        f"{r['wall_seconds']:.2f} | {r['rebuild_seconds']:.2f} | "
        f"{r['rebuild_to_target_seconds']:.2f} ({r['rebuild_to_target_kappa']:.1f} at "
        f"{r['rebuild_to_target_off_tree_density']:.4f}) | "
        f"{'yes' if all(r['invariants'].values()) else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="+", help="FAMILY-2^K[-WEIGHTS], e.g. delaunay-2^18-unit")
    parser.add_argument("--work", type=Path, default=Path(".cache/target-replay"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for name in args.graphs:
        graph_spec(name)  # fail before any work
    rows = [_graph_row(name, args.work / name) for name in args.graphs]
    print(
        "| graph | kappa without target | T | kappa held | off-tree density | static kappa at "
        "that density | replay wall s | rebuild s at that density | rebuild to T s (its "
        "kappa, density) | invariants |\n|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(_row(r) for r in rows),
        file=sys.stderr,
    )
    return emit({"machine": machine_info(), "graphs": rows}, args.out)


if __name__ == "__main__":
    sys.exit(main())
