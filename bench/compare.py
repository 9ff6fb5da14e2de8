"""One graph end to end: threshold sweeps per mode, the static-rebuild curve, the matched runs
(both phases) at a common off-tree density, and the comparison figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.matching import (
    density_at_kappa,
    kappa_at_density,
    matched_target,
    threshold_for_density,
)
from bench.profiles import Profile
from bench.series import KappaProbe, Policy, Series, run_engine, run_rebuild
from bench.workload import Workload
from sparsiflow.engine.bootstrap import static_sparsifier
from sparsiflow.engine.config import MODES, EngineConfig
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.offline import LOCAL_RULES_ONLY, replay, start_engine
from sparsiflow.engine.quality.exact import measure

__all__ = ["MODES", "compare_graph", "sweep_point"]

SATURATION = 1e-3  # a sweep stops once density, having begun to fall, moves less than this

Say = Callable[[str], None]


def sweep_point(work: Workload, config: EngineConfig) -> dict[str, Any]:
    """The insertion phase at one threshold: final density and exact kappa."""
    engine = start_engine(work.base, config, sparsifier=work.h0)
    result = replay(engine, list(work.inserts))
    quality = measure(work.full, EdgeList(work.nodes, *engine.sparsifier_edges()))
    stats = engine.stats()
    return {
        "threshold": config.threshold,
        "density": stats.density,
        "off_tree_density": stats.off_tree_density,
        "kappa": quality.kappa,
        "engine_seconds": result.engine_seconds,
        "critical": sum(b["critical"] for b in result.batches),
    }


def _describe(mode: str, point: dict[str, Any]) -> str:
    return (
        f"  {mode:8s} K={point['threshold']:<7.4g} off-tree {point['off_tree_density']:.4f} "
        f"kappa {point['kappa']:.1f} ({point['engine_seconds']:.2f} s)"
    )


def _sweep(
    work: Workload, config: EngineConfig, profile: Profile, say: Say
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for k in profile.thresholds:
        points.append(sweep_point(work, replace(config, threshold=k)))
        p = points[-1]
        say(_describe(config.mode, p))
        floor = p["off_tree_density"] <= profile.bootstrap_off_tree_density + SATURATION / 2
        fell = p["off_tree_density"] < points[0]["off_tree_density"] - SATURATION
        flat = fell and points[-2]["off_tree_density"] - p["off_tree_density"] < SATURATION
        if floor or flat:
            break
    return points


def _refine(
    work: Workload,
    config: EngineConfig,
    points: list[dict[str, Any]],
    target: float,
    profile: Profile,
    say: Say,
) -> float:
    """A threshold whose insertion phase lands within the tolerance of ``target`` if a few
    interpolation steps find one (each measured step joins the sweep), else the best guess."""

    def nearest() -> dict[str, Any]:
        return min(points, key=lambda p: abs(p["off_tree_density"] - target))

    for step in range(profile.refine_steps + 1):
        best = nearest()
        if abs(best["off_tree_density"] - target) <= profile.refine_tolerance:
            return float(best["threshold"])
        guess = threshold_for_density(
            [(p["threshold"], p["off_tree_density"]) for p in points], target
        )
        if guess is None:
            return float(best["threshold"])
        if step == profile.refine_steps:
            return guess
        points.append(sweep_point(work, replace(config, threshold=guess)))
        say(_describe(config.mode, points[-1]) + " (refined)")
    raise AssertionError("unreachable")


def _rebuild_curve(work: Workload, densities: list[float]) -> list[dict[str, Any]]:
    g = work.full
    out = []
    for d in densities:
        h = g.subset(static_sparsifier(g.n, g.u, g.v, g.w, d))
        q = measure(g, h)
        out.append(
            {
                "density": q.stats.density,
                "off_tree_density": q.stats.off_tree_density,
                "kappa": q.kappa,
            }
        )
    return out


def compare_graph(work: Workload, profile: Profile, say: Say) -> dict[str, Any]:
    """Everything the harness reports for one workload (JSON-ready), plus the series objects."""
    n = work.nodes
    policy: Policy = "exact" if n <= profile.exact_batch_limit else "estimate"
    if n > profile.estimate_batch_limit:
        policy = "none"
    base = {m: EngineConfig(mode=m, seed=profile.seed, **LOCAL_RULES_ONLY) for m in MODES}
    clock = time.perf_counter()
    sweeps = {m: _sweep(work, base[m], profile, say) for m in MODES}
    ranges = [
        (min(p["off_tree_density"] for p in pts), max(p["off_tree_density"] for p in pts))
        for pts in sweeps.values()
    ]
    target = matched_target(profile.target_off_tree_density, ranges)
    aim = profile.target_off_tree_density if target is None else target
    thresholds = {m: _refine(work, base[m], sweeps[m], aim, profile, say) for m in MODES}
    sweep_seconds = time.perf_counter() - clock

    probes = {m: KappaProbe(policy, m) for m in (*MODES, "rebuild")}
    series: dict[str, Series] = {}
    for m in MODES:
        say(f"  matched run: {m} K={thresholds[m]:.4g}")
        series[m] = run_engine(
            work, replace(base[m], threshold=thresholds[m]), probes[m], profile.repeats
        )
    say("  matched run: rebuild after every batch")
    series["rebuild"] = run_rebuild(
        work, [b["off_tree_density"] for b in series["default"].batches], probes["rebuild"]
    )

    curve_densities = sorted({*profile.rebuild_densities, aim})
    top = max(r[1] for r in ranges)
    rebuild_curve = _rebuild_curve(work, [d for d in curve_densities if d <= top + 1e-9])
    curves: dict[str, list[tuple[float, float]]] = {
        m: [(p["off_tree_density"], p["kappa"]) for p in sweeps[m]] for m in MODES
    }
    curves["rebuild"] = [(p["off_tree_density"], p["kappa"]) for p in rebuild_curve]
    at_target = {m: kappa_at_density(c, aim) for m, c in curves.items()}
    reference = at_target["dygrass"]
    reach = {m: _reach(c, reference) for m, c in curves.items()}
    return {
        "comparison": {
            "target_off_tree_density": target,
            "requested_off_tree_density": profile.target_off_tree_density,
            "thresholds": thresholds,
            "kappa_at_target": at_target,
            "reference_kappa": reference,
            "density_at_reference_kappa": {m: reach[m][0] for m in curves},
            "density_at_reference_kappa_note": {m: reach[m][1] for m in curves},
            "speed": _speed(series),
        },
        "sweeps": sweeps,
        "rebuild_curve": rebuild_curve,
        "series": {name: s.to_dict() for name, s in series.items()},
        "kappa_policy": policy,
        "sweep_seconds": sweep_seconds,
        "_series": series,
        "_samples": [s for p in probes.values() for s in p.samples],
    }


def _reach(curve: list[tuple[float, float]], kappa: float | None) -> tuple[float | None, str]:
    """The density a curve needs to get down to ``kappa``, and how it was found."""
    if kappa is None:
        return None, "no reference kappa"
    density = density_at_kappa(curve, kappa)
    if density is not None:
        return density, "interpolated"
    sparsest = min(curve, default=None)
    if sparsest is not None and sparsest[1] <= kappa:
        return None, f"below {sparsest[0]:.3f}"
    return None, "not reached"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _speed(series: dict[str, Series]) -> dict[str, float | None]:
    """Speed ratios of the matched runs (same graph, same stream, same process)."""
    d, y, r = (series[k].phases for k in ("default", "dygrass", "rebuild"))
    out: dict[str, float | None] = {}
    for phase in ("insert", "delete"):
        out[f"{phase}_default_over_dygrass"] = _ratio(
            d[phase]["updates_per_second"], y[phase]["updates_per_second"]
        )
        out[f"{phase}_rebuild_over_default"] = _ratio(
            r[phase]["engine_seconds"], d[phase]["engine_seconds"]
        )
    return out
