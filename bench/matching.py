"""Matched-density comparisons: read a sweep of (threshold, density, kappa) points at one level.

Pure functions on small point lists. A sweep of the threshold K gives, per mode, points
``(K, off-tree density, kappa)``; density falls as K grows and kappa rises as density falls.
Between two sweep points the curves are taken piecewise linear in ``log K`` and ``log kappa``
(both span decades) and linear in density. A level outside the swept range gives ``None``:
the harness never extrapolates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "crossing",
    "density_at_kappa",
    "kappa_at_density",
    "matched_target",
    "threshold_for_density",
]

_SAME = 1e-9  # log-kappa difference treated as equal (a value read back from the same curve)


def crossing(
    xs: Sequence[float], ys: Sequence[float], level: float, log_x: bool = False
) -> float | None:
    """The x where the polyline through ``(xs[i], ys[i])`` (in the given order) first reaches
    ``ys == level``, interpolated linearly (in ``log x`` when ``log_x``); None if it never does."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys must have equal lengths")
    tx = [math.log(x) for x in xs] if log_x else list(xs)
    for i, y in enumerate(ys):
        if y == level:
            return xs[i]
        if i + 1 < len(ys) and (y - level) * (ys[i + 1] - level) < 0:
            t = (level - y) / (ys[i + 1] - y)
            x = tx[i] + t * (tx[i + 1] - tx[i])
            return math.exp(x) if log_x else x
    return None


def _by_density(points: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """(densities, log kappas) sorted by density; equal densities merged (geometric mean)."""
    merged: dict[float, list[float]] = {}
    for density, kappa in points:
        if math.isfinite(kappa) and kappa > 0:
            merged.setdefault(density, []).append(math.log(kappa))
    densities = sorted(merged)
    return densities, [sum(merged[d]) / len(merged[d]) for d in densities]


def kappa_at_density(points: Sequence[tuple[float, float]], density: float) -> float | None:
    """Kappa of a ``(density, kappa)`` curve at ``density``, or None outside its range."""
    densities, logs = _by_density(points)
    if not densities or not densities[0] <= density <= densities[-1]:
        return None
    if len(densities) == 1:
        return math.exp(logs[0])
    value = crossing(logs, densities, density)
    return None if value is None else math.exp(value)


def density_at_kappa(points: Sequence[tuple[float, float]], kappa: float) -> float | None:
    """The least density at which a ``(density, kappa)`` curve gets down to ``kappa``.

    The sparsest density when that point is at ``kappa`` (within rounding); None when it
    already beats ``kappa`` (the answer lies below the swept range) or no point reaches it.
    """
    densities, logs = _by_density(points)
    level = math.log(kappa)
    if not densities or logs[0] < level - _SAME:
        return None
    if logs[0] <= level + _SAME:
        return densities[0]
    return crossing(densities, logs, level)


def threshold_for_density(points: Sequence[tuple[float, float]], density: float) -> float | None:
    """The threshold K at which a ``(K, density)`` sweep reaches ``density`` (log-K
    interpolation between the first bracketing pair in K order), or None."""
    ordered = sorted(points)
    return crossing([k for k, _ in ordered], [d for _, d in ordered], density, log_x=True)


def matched_target(target: float, ranges: Sequence[tuple[float, float]]) -> float | None:
    """``target`` clamped into the densities every mode reached (the intersection of the
    ``(low, high)`` ranges); None when the ranges do not overlap."""
    low = max(r[0] for r in ranges)
    high = min(r[1] for r in ranges)
    if low > high:
        return None
    return min(max(target, low), high)
