"""PNG plots of a benchmark result (matplotlib, no display needed).

    python -m bench.plots RESULTS.json [--out DIR]

- ``kappa_vs_density.png``: per graph, exact kappa after the insertions against off-tree
  density, for each mode's threshold sweep and the static rebuild; the dotted line is the
  matched density, stars are the matched runs.
- ``batches.png``: per graph, kappa and off-tree density after every batch of the matched runs
  (insertions, then deletions from the shaded line on); hollow markers are online estimates.
- ``throughput.png``: updates per second of each phase per mode, and of rebuilding.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["render"]

_STYLE = {"default": "tab:blue", "dygrass": "tab:orange", "rebuild": "tab:green"}


def _grid(count: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    cols = min(count, 3)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _kappa_vs_density(graphs: list[dict[str, Any]], path: Path) -> None:
    fig, axes = _grid(len(graphs), 4.4, 3.8)
    for ax, g in zip(axes, graphs, strict=True):
        curves = {m: g["sweeps"][m] for m in ("default", "dygrass")}
        curves["rebuild"] = g["rebuild_curve"]
        for name, points in curves.items():
            pts = sorted((p["off_tree_density"], p["kappa"]) for p in points)
            ax.plot(*zip(*pts, strict=True), "o-", ms=3, color=_STYLE[name], label=name)
            end = g["series"][name]["phases"]["insert"]
            ax.plot(end["off_tree_density"], end["kappa"], "*", ms=11, color=_STYLE[name])
        target = g["comparison"]["target_off_tree_density"]
        if target is not None:
            ax.axvline(target, color="grey", ls=":", lw=1)
        ax.set(title=g["name"], xlabel="off-tree density", ylabel="kappa", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _batches(graphs: list[dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(len(graphs), 2, figsize=(10, 2.6 * len(graphs)), squeeze=False)
    for (k_ax, d_ax), g in zip(axes, graphs, strict=True):
        for name, s in g["series"].items():
            x = list(range(1, len(s["batches"]) + 1))
            # NaN where a batch has no value: lines join consecutive batches only
            exact = [b.get("kappa") or math.nan for b in s["batches"]]
            est = [b.get("kappa_estimate") or math.nan for b in s["batches"]]
            k_ax.plot(x, exact, "o-", ms=3, color=_STYLE[name], label=name)
            k_ax.plot(x, est, "o--", ms=4, mfc="none", color=_STYLE[name])
            line = "o:" if name == "rebuild" else "o-"  # the rebuild follows default's density
            d_ax.plot(x, [b["off_tree_density"] for b in s["batches"]], line, ms=3,
                      color=_STYLE[name], label=name)  # fmt: skip
        inserts = sum(1 for b in g["series"]["default"]["batches"] if b["phase"] == "insert")
        for ax, label in ((k_ax, "kappa"), (d_ax, "off-tree density")):
            ax.axvline(inserts + 0.5, color="grey", ls=":", lw=1)
            ax.set_xlim(0.5, len(g["series"]["default"]["batches"]) + 0.5)
            ax.set(title=f"{g['name']}: {label}", xlabel="batch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        k_ax.set_yscale("log")
    axes[0][1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _throughput(graphs: list[dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.27
    for ax, phase in zip(axes, ("insert", "delete"), strict=True):
        for i, name in enumerate(("default", "dygrass", "rebuild")):
            rates = [g["series"][name]["phases"][phase]["updates_per_second"] or 0 for g in graphs]
            xs = [j + (i - 1) * width for j in range(len(graphs))]
            ax.bar(xs, rates, width, color=_STYLE[name], label=name)
        ax.set_xticks(range(len(graphs)), [g["name"] for g in graphs], rotation=30, ha="right")
        ax.set(title=f"{phase}: updates per second", yscale="log")
        ax.set_ylabel("updates / engine s (rebuild: updates / rebuild s)", fontsize=8)
        ax.grid(alpha=0.3, axis="y", which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(result: dict[str, Any], out: Path) -> list[Path]:
    """Write the three PNGs of ``result`` into ``out``; returns their paths."""
    graphs = result["graphs"]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "kappa_vs_density.png", out / "batches.png", out / "throughput.png"]
    if graphs:
        _kappa_vs_density(graphs, paths[0])
        _batches(graphs, paths[1])
        _throughput(graphs, paths[2])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the PNG plots of a benchmark result.")
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, help="folder (default: the results' folder)")
    args = parser.parse_args(argv)
    result = json.loads(args.results.read_text())
    for path in render(result, args.out or args.results.parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
