"""Benchmark profiles: which graphs, which thresholds, how much quality measurement.

Graph names read ``family-2^K[-weights]``, e.g. ``delaunay-2^18-unit``; ``--only`` selects by
these names. ``quick`` stays under five minutes on the 2-core development VM (Numba compilation
included); ``full`` is the issue's protocol at the paper's sizes and takes hours there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.workloads import Family, Weights
from sparsiflow.workloads.families import build, delaunay

__all__ = ["PROFILES", "Family", "GraphSpec", "Profile"]


@dataclass(frozen=True)
class GraphSpec:
    """One generated test graph: ``2^log2n`` nodes of a family (weights: delaunay only)."""

    family: Family
    log2n: int
    weights: Weights = "unit"
    seed: int = 0

    @property
    def nodes(self) -> int:
        return 1 << self.log2n

    @property
    def name(self) -> str:
        suffix = f"-{self.weights}" if self.family == "delaunay" else ""
        return f"{self.family}-2^{self.log2n}{suffix}"

    def build(self) -> EdgeList:
        """The graph (deterministic for the seed)."""
        if self.family == "delaunay":
            return delaunay(self.nodes, self.weights, self.seed)
        return build(self.family, self.nodes, self.seed)


@dataclass(frozen=True)
class Profile:
    """What one benchmark run does.

    thresholds: the K grid swept (ascending) per mode; a mode's sweep stops early once its
        density stops falling. target_off_tree_density: where the modes are matched (clamped
        into the range both modes reach). rebuild_densities: where the static rebuild's
        kappa-density curve is sampled (up to the densest sweep point). refine_steps: extra
        insertion runs per mode to land the matched run near the target. repeats: runs per
        mode (the first measures kappa, the others only time; phase times are their median).
        exact_batch_limit / estimate_batch_limit: largest graphs with exact kappa / the online
        estimate after every batch (exact kappa is always measured at the end of each phase).
        estimator_limit: largest graph on which the estimator is validated against the exact
        kappa.
    """

    name: str
    graphs: tuple[GraphSpec, ...]
    thresholds: tuple[float, ...] = tuple(2.0**k for k in range(11))  # 1 .. 1024
    target_off_tree_density: float = 0.14
    rebuild_densities: tuple[float, ...] = (0.10, 0.12, 0.14, 0.17, 0.20, 0.25, 0.30, 0.35)
    bootstrap_off_tree_density: float = 0.10
    insert_frac: float = 0.25
    delete_frac: float = 0.01
    batches: int = 10
    refine_steps: int = 2
    refine_tolerance: float = 0.002
    repeats: int = 3
    exact_batch_limit: int = 1 << 14
    estimate_batch_limit: int = 1 << 18
    estimator_limit: int = 1 << 18
    estimator_tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
    seed: int = 0
    notes: tuple[str, ...] = field(default=())

    def select(self, names: tuple[str, ...]) -> Profile:
        """The profile restricted to the named graphs, in the order given (all when
        ``names`` is empty)."""
        if not names:
            return self
        unknown = set(names) - {g.name for g in self.graphs}
        if unknown:
            known = ", ".join(g.name for g in self.graphs)
            raise ValueError(f"no graph {sorted(unknown)} in profile {self.name} ({known})")
        by_name = {g.name: g for g in self.graphs}
        return replace(self, graphs=tuple(by_name[name] for name in dict.fromkeys(names)))


_QUICK = Profile(
    name="quick",
    graphs=(
        GraphSpec("delaunay", 13, "unit"),
        GraphSpec("delaunay", 13, "lognormal"),
        GraphSpec("grid-circuit", 12),
        GraphSpec("fem-mesh", 12),
        GraphSpec("power-law", 12),
    ),
    repeats=3,
    exact_batch_limit=1 << 13,
    notes=("small sizes: a smoke run of the whole protocol, not the paper's scale",),
)

_FULL = Profile(
    name="full",
    graphs=(
        *(GraphSpec("delaunay", k, w) for k in (16, 18, 20) for w in ("unit", "lognormal")),
        GraphSpec("grid-circuit", 18),
        GraphSpec("fem-mesh", 16),
        GraphSpec("power-law", 16),
    ),
    repeats=2,
    refine_steps=1,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (_QUICK, _FULL)}
