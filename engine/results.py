"""What the engine returns: sparsifier deltas, per-batch reports and graph statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["BatchReport", "Delta", "GraphStats", "KappaReading"]


def _ids() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


def _weights() -> NDArray[np.float64]:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class Delta:
    """Changes of H in one batch, in external node ids, each edge with u < v.

    Applying deltas in order to an empty edge set reproduces H: remove ``removed``, then set
    ``reweighted`` weights, then add ``added``. ``added`` and ``removed`` are disjoint.
    ``recovered`` lists the edges of ``added`` that the kappa checks (with the edges a check's
    pruning made critical again) or a bulk build put in (the rest are critical insertions and
    deletion repairs); ``pruned`` the edges of
    ``removed`` that left H but stay in G (a bulk build replacing H), the rest left G.
    """

    added_u: NDArray[np.int64] = field(default_factory=_ids)
    added_v: NDArray[np.int64] = field(default_factory=_ids)
    added_w: NDArray[np.float64] = field(default_factory=_weights)
    removed_u: NDArray[np.int64] = field(default_factory=_ids)
    removed_v: NDArray[np.int64] = field(default_factory=_ids)
    reweighted_u: NDArray[np.int64] = field(default_factory=_ids)
    reweighted_v: NDArray[np.int64] = field(default_factory=_ids)
    reweighted_w: NDArray[np.float64] = field(default_factory=_weights)
    recovered_u: NDArray[np.int64] = field(default_factory=_ids)
    recovered_v: NDArray[np.int64] = field(default_factory=_ids)
    pruned_u: NDArray[np.int64] = field(default_factory=_ids)
    pruned_v: NDArray[np.int64] = field(default_factory=_ids)

    @property
    def size(self) -> int:
        return int(self.added_u.size + self.removed_u.size + self.reweighted_u.size)


@dataclass(frozen=True)
class GraphStats:
    """Size and density of G and H (densities per node; off-tree: beyond a spanning forest)."""

    nodes: int
    edges_graph: int
    edges_sparsifier: int
    components: int

    @property
    def density(self) -> float:
        return self.edges_sparsifier / self.nodes if self.nodes else 0.0

    @property
    def off_tree_density(self) -> float:
        if not self.nodes:
            return 0.0
        return (self.edges_sparsifier - (self.nodes - self.components)) / self.nodes

    def figures(self) -> dict[str, int | float]:
        """The figures every report and event shows: nodes, edges_graph, edges_sparsifier,
        density, off_tree_density, components."""
        return {
            "nodes": self.nodes,
            "edges_graph": self.edges_graph,
            "edges_sparsifier": self.edges_sparsifier,
            "density": self.density,
            "off_tree_density": self.off_tree_density,
            "components": self.components,
        }


@dataclass(frozen=True)
class KappaReading:
    """A finished background check of kappa (``sparsiflow.engine.quality.keeper``).

    batch: the batch whose G and H it read. value: estimated kappa of that G against that H
    plus the edges the check recovered (None when not estimated, and ``reason`` says why);
    before: the estimate of that H alone; recovered: edges the check put into H; seconds: its
    wall time; method: how kappa was estimated.
    """

    batch: int
    value: float | None
    before: float | None
    recovered: int
    seconds: float
    reason: str | None = None
    method: str = "lanczos"


@dataclass(frozen=True)
class BatchReport:
    """Result of one ``Engine.apply``: the delta of H and what happened, with timings.

    inserted / deleted / reweighted: net updates applied to G. unknown: deletes and reweights
    of edges not in G (counted, not errors). critical: inserted (or strengthened) edges that
    entered H. repaired: edges added to H by deletion repairs. recovered: edges added by the
    kappa control loop. kappa: the background check that entered with this batch, if any
    (its recovered edges are in this delta). walker_steps: total walk steps taken. settled:
    nodes settled by the exact searches (the default rule's work measure). seconds: wall
    time per phase.
    """

    batch: int
    delta: Delta
    stats: GraphStats
    inserted: int = 0
    deleted: int = 0
    reweighted: int = 0
    unknown: int = 0
    critical: int = 0
    repaired: int = 0
    recovered: int = 0
    walker_steps: int = 0
    settled: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    kappa: KappaReading | None = None

    @property
    def engine_seconds(self) -> float:
        return float(sum(self.seconds.values()))
