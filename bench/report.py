"""The headline of a benchmark result: one row per graph, and the same as a Markdown table.

python -m bench.report RESULTS.json    # rewrite headline.md from the per-graph figures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["headline", "main", "markdown"]

_SERIES = ("default", "dygrass", "rebuild")


def headline(graph: dict[str, Any]) -> dict[str, Any]:
    """Matched-run figures of one graph entry of the results."""
    series, comparison = graph["series"], graph["comparison"]
    row: dict[str, Any] = {
        "graph": graph["name"],
        "nodes": graph["nodes"],
        "target_off_tree_density": comparison["target_off_tree_density"],
        "thresholds": comparison["thresholds"],
    }
    for phase in ("insert", "delete"):
        phases = {s: series[s]["phases"][phase] for s in _SERIES}
        row[phase] = {
            "off_tree_density": {s: p["off_tree_density"] for s, p in phases.items()},
            "kappa": {s: p["kappa"] for s, p in phases.items()},
            "updates_per_second": {s: p["updates_per_second"] for s, p in phases.items()},
            "default_over_dygrass": comparison["speed"][f"{phase}_default_over_dygrass"],
            "rebuild_over_default": comparison["speed"][f"{phase}_rebuild_over_default"],
        }
    row["kappa_at_target"] = comparison["kappa_at_target"]
    row["density_at_reference_kappa"] = comparison["density_at_reference_kappa"]
    row["density_at_reference_kappa_note"] = comparison["density_at_reference_kappa_note"]
    row["engine_bytes_per_graph_edge"] = series["default"]["memory"]["engine_bytes_per_graph_edge"]
    return row


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _triple(values: dict[str, float | None], digits: int = 3) -> str:
    return " / ".join(_num(values.get(s), digits) for s in _SERIES)


def _reached(row: dict[str, Any]) -> str:
    values, notes = row["density_at_reference_kappa"], row["density_at_reference_kappa_note"]
    return " / ".join(_num(values[s]) if values[s] is not None else notes[s] for s in _SERIES)


def markdown(result: dict[str, Any]) -> str:
    """The headline table with the machine named (README-ready)."""
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, Python {m['python']}, "
        f"numba {m['libraries'].get('numba')}; commit {str(m['git_commit'])[:10]}, {m['date']}; "
        f"profile `{result['profile']['name']}`.",
        "",
        "Each cell of three is default / dygrass / rebuild (static sparsifier rebuilt after "
        "every batch at the default mode's density). Kappa is exact, at the end of the phase.",
        "",
        "| graph | phase | off-tree density | kappa | default updates/s | default/dygrass "
        "speed | rebuild/default time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["headline"]:
        for phase in ("insert", "delete"):
            p = row[phase]
            lines.append(
                f"| {row['graph']} | {phase} | {_triple(p['off_tree_density'])} | "
                f"{_triple(p['kappa'])} | {_num(p['updates_per_second']['default'])} | "
                f"{_num(p['default_over_dygrass'])}x | {_num(p['rebuild_over_default'])}x |"
            )
    lines += [
        "",
        "At the matched off-tree density (interpolated on the threshold sweeps, after the "
        "insertions): kappa default / dygrass / rebuild, and the off-tree density each needs "
        "to reach dygrass's kappa.",
        "",
        "| graph | target off-tree density | kappa at target | density at dygrass's kappa |",
        "|---|---|---|---|",
    ]
    for row in result["headline"]:
        lines.append(
            f"| {row['graph']} | {_num(row['target_off_tree_density'])} | "
            f"{_triple(row['kappa_at_target'])} | {_reached(row)} |"
        )
    lines += [
        "",
        "Online kappa estimator (`sparsiflow.engine.quality.estimator.KappaEstimator`) against "
        "the exact lambda_max: relative error (the estimate is a lower bound) and seconds per "
        "call.",
        "",
        "| nodes | call | tol | calls | max error | median error | median seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in result["estimator"]["summary"]:
        lines.append(
            f"| {e['nodes']} | {e['kind']} | {e['tol']:g} | {e['calls']} | "
            f"{e['max_rel_error']:.1e} | {e['median_rel_error']:.1e} | "
            f"{e['median_seconds']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report RESULTS.json``: recompute the headline rows from the graphs
    and write ``headline.md`` beside the results (and print it)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    result = json.loads(args.results.read_text())
    result["headline"] = [headline(g) for g in result["graphs"]]
    text = markdown(result)
    (args.results.parent / "headline.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
