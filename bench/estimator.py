"""The online kappa estimator (``sparsiflow.engine.quality.estimator.KappaEstimator``) against the
exact kappa.

Three kinds of call are measured: ``cold`` (a fresh estimator: ordering and factorizing L_H,
Lanczos from noise) at each tolerance; ``warm-unchanged`` (the same pair again: cached factor,
warm start); ``in-stream`` (the benchmark's per-batch estimates: warm start, H changed by one
batch, L_H factorized afresh) wherever a phase end has both.
The error is relative to the exact lambda_max (the estimate is a lower bound of it).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.estimator import KappaEstimator

__all__ = ["check_estimator", "summarize"]


def _call(
    estimator: KappaEstimator, g: EdgeList, h: EdgeList, exact: float, kind: str, label: str
) -> dict[str, Any]:
    est = estimator.update(g, h)
    return {
        "pair": label,
        "nodes": g.n,
        "kind": kind,
        "tol": estimator.tol,
        "exact": exact,
        "estimate": est.lambda_max,
        "rel_error": (exact - est.lambda_max) / exact,
        "residual": est.residual,
        "steps": est.steps,
        "seconds": est.seconds,
        "refactorized": est.refactorized,
    }


def check_estimator(
    pairs: dict[str, tuple[EdgeList, EdgeList, float]], tolerances: Iterable[float]
) -> list[dict[str, Any]]:
    """Cold calls at each tolerance and one warm call with H unchanged, for every
    ``label: (G, H, exact lambda_max)``."""
    calls = []
    for label, (g, h, exact) in pairs.items():
        estimator = None
        for tol in tolerances:
            estimator = KappaEstimator(tol=tol)
            calls.append(_call(estimator, g, h, exact, "cold", label))
        if estimator is not None:
            calls.append(_call(estimator, g, h, exact, "warm-unchanged", label))
    return calls


def summarize(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (nodes, kind, tol): calls, largest and median relative error, median seconds."""
    groups: dict[tuple[int, str, float], list[dict[str, Any]]] = {}
    for call in calls:
        groups.setdefault((call["nodes"], call["kind"], call["tol"]), []).append(call)
    return [
        {
            "nodes": nodes,
            "kind": kind,
            "tol": tol,
            "calls": len(group),
            "max_rel_error": max(abs(c["rel_error"]) for c in group),
            "median_rel_error": statistics.median(abs(c["rel_error"]) for c in group),
            "median_seconds": statistics.median(c["seconds"] for c in group),
        }
        for (nodes, kind, tol), group in sorted(groups.items())
    ]
