"""Synthetic graph families and the paper's update streams (benchmarks, demo, ``sparsiflow
generate``); built on the engine, not part of it.

The names of the families and weightings live here (light to import, for command-line
choices); :mod:`sparsiflow.workloads.families` builds the graphs.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FAMILIES", "WEIGHTS", "Family", "Weights"]

Family = Literal["delaunay", "grid-circuit", "fem-mesh", "power-law"]
FAMILIES: tuple[Family, ...] = get_args(Family)
Weights = Literal["unit", "lognormal"]
WEIGHTS: tuple[Weights, ...] = get_args(Weights)
