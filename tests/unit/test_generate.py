"""Graph families: size, connectivity, determinism and the features each family promises."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial import Delaunay

from sparsiflow.engine.graph.edges import EdgeList, components
from sparsiflow.workloads.delaunay import GRID, _incircle, triangulation_edges
from sparsiflow.workloads.families import delaunay, fem_mesh, grid_circuit, power_law, reweight

FAMILIES: list[Callable[..., EdgeList]] = [delaunay, grid_circuit, fem_mesh, power_law]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", [17, 1000])
def test_family_is_connected_on_exactly_n_nodes(family: Callable[..., EdgeList], n: int) -> None:
    g = family(n, seed=5)
    assert g.n == n
    assert components(g)[0] == 1
    assert np.all(g.u < g.v) and np.all(np.diff(g.keys()) > 0)
    assert np.all(np.isfinite(g.w) & (g.w > 0))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_deterministic_per_seed(family: Callable[..., EdgeList]) -> None:
    a, b, c = family(500, seed=1), family(500, seed=1), family(500, seed=2)
    assert np.array_equal(a.keys(), b.keys()) and np.array_equal(a.w, b.w)
    assert not (np.array_equal(a.keys(), c.keys()) and np.array_equal(a.w, c.w))


@pytest.mark.parametrize("family", FAMILIES)
def test_too_small_is_rejected(family: Callable[..., EdgeList]) -> None:
    with pytest.raises(ValueError, match="at least"):
        family(1)


def _edge_set(u: np.ndarray, v: np.ndarray) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, b in zip(u.tolist(), v.tolist(), strict=True)}


@pytest.mark.parametrize(("seed", "n"), [(0, 3000), (1, 4), (2, 7), (3, 20_000)])
def test_triangulation_matches_qhull(seed: int, n: int) -> None:
    points = np.random.default_rng(seed).integers(0, GRID, (n, 2))  # general position
    u, v = triangulation_edges(points)
    simplices = Delaunay(points.astype(np.float64)).simplices
    oracle = _edge_set(simplices[:, [0, 1, 2]].ravel(), simplices[:, [1, 2, 0]].ravel())
    assert len(u) == len(oracle)  # each edge exactly once
    assert _edge_set(u, v) == oracle


def test_incircle_is_exact_where_floats_cannot_tell() -> None:
    # four points on one circle of radius 2^28 (and one just inside/outside): the in-circle
    # determinant is 0 or +-tiny against terms of ~2^230, decided by the 128-bit fallback
    c, r = 2**29, 2**28
    x = np.array([c + r, c, c - r, c, c, c], dtype=np.int64)
    y = np.array([c, c + r, c, c - r, c - r + 1, c - r - 1], dtype=np.int64)
    assert _incircle(x, y, 0, 1, 2, 3) == 0
    assert _incircle(x, y, 0, 1, 2, 4) == 1
    assert _incircle(x, y, 0, 1, 2, 5) == -1
    assert _incircle(x, y, 0, 2, 1, 4) == -1  # clockwise order flips the sign


def test_square_grid_is_triangulated() -> None:
    # every unit square of the grid has 4 cocircular corners: any diagonal is Delaunay
    points = np.array([(i, j) for i in range(20) for j in range(30)])
    u, v = triangulation_edges(points)
    length2 = (points[u, 0] - points[v, 0]) ** 2 + (points[u, 1] - points[v, 1]) ** 2
    assert len(u) == 19 * 30 + 20 * 29 + 19 * 29
    assert set(length2.tolist()) == {1, 2}
    assert components(EdgeList.normalize(u, v))[0] == 1


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0, 0], [1, 1], [2, 2], [5, 5]], "collinear"),
        ([[0, 0], [4, 0], [0, 4], [4, 0]], "distinct"),
        ([[0, 0], [4, 0]], "shape"),
        ([[0, 0], [4, 0], [0, GRID]], r"\[0, 2\^30\)"),
    ],
)
def test_triangulation_rejects_bad_point_sets(points: list[list[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        triangulation_edges(np.array(points, dtype=np.int64))


def test_delaunay_has_planar_triangulation_size_and_weights() -> None:
    g = delaunay(4096, seed=0)
    assert 3 * g.n - 3 - 200 < g.m <= 3 * g.n - 6  # Euler: 3n - 3 - (hull size)
    assert np.all(g.w == 1.0)
    w = delaunay(4096, weights="lognormal", seed=0)
    assert np.array_equal(w.keys(), g.keys())
    assert np.std(np.log(w.w)) == pytest.approx(1.0, rel=0.05)


def test_reweight_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unit"):
        reweight(delaunay(10), "gaussian")  # type: ignore[arg-type]


def test_grid_circuit_spans_decades_with_vias() -> None:
    g = grid_circuit(2000, seed=3, layers=2, decades=4.0)
    assert np.log10(g.w.max() / g.w.min()) > 4
    half = 1000
    vias = (g.u < half) & (g.v >= half)
    assert 1 <= vias.sum() <= 100 and np.all(g.v[vias] - g.u[vias] == half)
    assert np.all(g.w[vias] == g.w.max())
    # each layer: 1000 nodes in rows of 32 (31 full rows and 8 more)
    per_layer = (31 * 31 + 7) + (1000 - 32)  # horizontal + vertical grid edges
    assert g.m - vias.sum() == 2 * per_layer


def test_power_law_has_hubs() -> None:
    g = power_law(20_000, seed=0, attach=4)
    degree = np.bincount(np.concatenate([g.u, g.v]), minlength=g.n)
    assert degree.min() >= 1
    assert degree.mean() == pytest.approx(8.0, rel=0.05)
    assert degree.max() > 30 * degree.mean()  # heavy tail: hubs far above the mean


def test_fem_mesh_edges_avoid_the_holes() -> None:
    g = fem_mesh(4000, seed=7, holes=3)
    full = delaunay(4000, seed=7)  # same size: a hole-free mesh has more edges per node
    assert g.m < full.m
    degree = np.bincount(np.concatenate([g.u, g.v]), minlength=g.n)
    assert degree.min() >= 1
