"""Seeded synthetic graph families (stand-ins for the paper's SuiteSparse test graphs).

- :func:`delaunay`: Delaunay triangulation of n uniform random points in the unit square, the
  construction of DIMACS10 ``delaunay_nK`` (n = 2^K).
- :func:`grid_circuit`: a power-grid-like circuit (cf. SuiteSparse G2/G3_circuit, synthetic):
  stacked 2-D grid layers joined by vias, conductances spread over decades.
- :func:`fem_mesh`: a triangulated 2-D domain with holes and graded density (cf. fe_4elt2 /
  fe_ocean, synthetic), unit weights.
- :func:`power_law`: preferential attachment (Barabasi-Albert), social-like, unit weights.

Every family returns a connected :class:`~sparsiflow.engine.graph.edges.EdgeList` on exactly n nodes
and is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.workloads import WEIGHTS, Family, Weights
from sparsiflow.workloads.delaunay import GRID, triangulation_edges

__all__ = ["build", "delaunay", "fem_mesh", "grid_circuit", "power_law", "reweight"]


def build(family: Family, n: int, seed: int = 0) -> EdgeList:
    """A graph of ``family`` on ``n`` nodes with the family's own weights."""
    makers: dict[str, Callable[..., EdgeList]] = {
        "delaunay": delaunay,
        "grid-circuit": grid_circuit,
        "fem-mesh": fem_mesh,
        "power-law": power_law,
    }
    if family not in makers:
        raise ValueError(f"unknown graph family {family!r}")
    return makers[family](n, seed=seed)


def reweight(edges: EdgeList, weights: Weights, seed: int = 0) -> EdgeList:
    """The same edges with unit weights, or log-normal ones (``exp(N(0, 1))``, ~2 decades)."""
    if weights == "unit":
        w = np.ones(edges.m)
    elif weights == "lognormal":
        w = np.random.default_rng([seed, 1]).lognormal(0.0, 1.0, edges.m)
    else:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    return EdgeList(edges.n, edges.u, edges.v, w)


def delaunay(n: int, weights: Weights = "unit", seed: int = 0) -> EdgeList:
    """Delaunay triangulation of ``n >= 3`` uniform random points in the unit square (on a
    grid of spacing 2^-30; a draw with a repeated point, odds ~n^2 / 2^61, is redrawn)."""
    _check_size(n, 3)
    rng = np.random.default_rng(seed)
    for attempt in range(8):
        try:
            u, v = triangulation_edges(rng.integers(0, GRID, (n, 2)))
            break
        except ValueError:  # repeated (or, for tiny n, collinear) points: draw again
            if attempt == 7:
                raise
    return reweight(EdgeList.normalize(u, v, n=n), weights, seed)


def grid_circuit(n: int, seed: int = 0, layers: int = 2, decades: float = 4.0) -> EdgeList:
    """``layers`` stacked grids on ``n`` nodes in all; grid conductances are log-uniform over
    ``decades`` decades (each layer a decade stronger than the one below); vias join about 2 %
    of the positions of neighbouring layers with the strongest conductance."""
    _check_size(n, 2 * layers)
    rng = np.random.default_rng(seed)
    sizes = [n // layers + (i < n % layers) for i in range(layers)]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    us, vs, ws = [], [], []
    for layer, size in enumerate(sizes):
        u, v = _grid(size)
        us.append(u + offsets[layer])
        vs.append(v + offsets[layer])
        ws.append(10.0 ** (rng.uniform(0.0, decades, u.shape[0]) + layer))
    for layer in range(layers - 1):
        common = min(sizes[layer], sizes[layer + 1])
        sites = np.flatnonzero(rng.random(common) < 0.02)
        sites = sites if sites.size else np.array([0])
        us.append(sites + offsets[layer])
        vs.append(sites + offsets[layer + 1])
        ws.append(np.full(sites.shape[0], 10.0 ** (decades + layers)))
    return EdgeList.normalize(np.concatenate(us), np.concatenate(vs), np.concatenate(ws), n=n)


def fem_mesh(n: int, seed: int = 0, holes: int = 4) -> EdgeList:
    """Triangle mesh of the unit square minus ``holes`` discs, denser near the hole rims.

    Half the points are uniform, half cluster around the rims (a graded mesh); the Delaunay
    edges that cut through a hole are removed (kept only where needed for connectivity).
    """
    _check_size(n, 3)
    rng = np.random.default_rng(seed)
    centers, radii = _holes(rng, holes)
    points = np.empty((0, 2), dtype=np.int64)
    while points.shape[0] < n:
        batch = 2 * (n - points.shape[0]) + 16
        uniform = rng.random((batch // 2, 2))
        pick = rng.integers(0, centers.shape[0], batch - batch // 2)
        angle = rng.uniform(0.0, 2 * np.pi, pick.shape[0])
        dist = radii[pick] + np.abs(rng.normal(0.0, 0.04, pick.shape[0]))
        rim = centers[pick] + dist[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
        cand = np.concatenate([uniform, rim])
        cand = cand[rng.permutation(cand.shape[0])]
        inside = np.all((cand >= 0) & (cand <= 1), axis=1)
        for c, r in zip(centers, radii, strict=True):
            inside &= np.sum((cand - c) ** 2, axis=1) > r * r
        grid = np.minimum(cand[inside] * GRID, GRID - 1).astype(np.int64)
        points = np.concatenate([points, grid])
        first = np.sort(np.unique(points[:, 0] * GRID + points[:, 1], return_index=True)[1])
        points = points[first][:n]
    full = EdgeList.normalize(*triangulation_edges(points), n=n)
    xy = points / GRID
    cuts = np.zeros(full.m, dtype=np.bool_)
    for c, r in zip(centers, radii, strict=True):
        cuts |= _segment_distance(xy[full.u], xy[full.v], c) < r
    return _reconnect(full, cuts)


def power_law(n: int, seed: int = 0, attach: int = 4) -> EdgeList:
    """Barabasi-Albert graph: node ``t`` links to ``attach`` earlier nodes picked with
    probability proportional to degree (duplicates merged). Connected by construction."""
    _check_size(n, 2)
    rng = np.random.default_rng(seed)
    slots = n * attach
    step = np.arange(slots, dtype=np.int64)
    # Batagelj-Brandes: entries 2s (the new node) and 2s+1 (a copy of a random earlier entry
    # r_s <= 2s). The first link of a node excludes its own entry, so it reaches an older node.
    first = (step % attach == 0) & (step >= attach)
    span = 2 * step + 1 - first
    ref = np.floor(rng.random(slots) * span).astype(np.int64)
    target = ref.copy()
    odd = np.flatnonzero(target & 1)
    while odd.size:  # follow copies of copies down to an even (original) entry
        target[odd] = ref[(target[odd] - 1) // 2]
        odd = odd[(target[odd] & 1) == 1]
    return EdgeList.normalize(step // attach, target // 2 // attach, n=n)


def _grid(size: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edges of a row-major grid of ``size`` nodes, ``ceil(sqrt(size))`` per row."""
    width = int(np.ceil(np.sqrt(size)))
    k = np.arange(size, dtype=np.int64)
    right = k[(k % width != width - 1) & (k + 1 < size)]
    down = k[k + width < size]
    return np.concatenate([right, down]), np.concatenate([right + 1, down + width])


def _holes(rng: np.random.Generator, count: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Up to ``count`` disjoint discs well inside the unit square."""
    centers: list[NDArray[np.float64]] = []
    radii: list[float] = []
    for _ in range(50 * count):
        if len(centers) == count:
            break
        c, r = rng.uniform(0.2, 0.8, 2), float(rng.uniform(0.05, 0.12))
        if all(np.hypot(*(c - c2)) > r + r2 + 0.05 for c2, r2 in zip(centers, radii, strict=True)):
            centers.append(c)
            radii.append(r)
    return np.array(centers).reshape(-1, 2), np.array(radii)


def _segment_distance(
    a: NDArray[np.float64], b: NDArray[np.float64], c: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Distance from point ``c`` to each segment ``a[k]-b[k]``."""
    d = b - a
    t = np.clip(np.sum((c - a) * d, axis=1) / np.maximum(np.sum(d * d, axis=1), 1e-300), 0, 1)
    closest = a + t[:, None] * d
    return np.asarray(np.hypot(*(closest - c).T))


def _reconnect(full: EdgeList, drop: NDArray[np.bool_]) -> EdgeList:
    """``full`` without the ``drop`` edges, except those needed to keep it connected."""
    drop = drop.copy()
    while True:
        kept = full.subset(~drop)
        count, labels = components(kept)
        if count == 1:
            return kept
        main = np.argmax(np.bincount(labels))
        stray = labels != main
        drop &= ~(stray[full.u] | stray[full.v])


def _check_size(n: int, least: int) -> None:
    if n < least:
        raise ValueError(f"this family needs at least {least} nodes, got {n}")
