"""The exact quality oracle: closed forms, dense/sparse agreement, components, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.quality.exact import measure
from sparsiflow.workloads.families import delaunay, power_law
from sparsiflow.workloads.streams import spanning_forest


def _cycle(n: int, w: float = 1.0, first: int = 0) -> EdgeList:
    k = np.arange(n)
    return EdgeList.normalize(first + k, first + (k + 1) % n, np.full(n, w), n=first + n)


def _union(*parts: EdgeList) -> EdgeList:
    n = max(p.n for p in parts)
    return EdgeList.normalize(
        np.concatenate([p.u for p in parts]),
        np.concatenate([p.v for p in parts]),
        np.concatenate([p.w for p in parts]),
        n=n,
    )


def _drop(g: EdgeList, u: int, v: int) -> EdgeList:
    return g.subset(~((g.u == min(u, v)) & (g.v == max(u, v))))


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize(("n", "w"), [(3, 1.0), (10, 2.5), (57, 0.1)])
def test_path_in_cycle_closed_form(method: str, n: int, w: float) -> None:
    # L_C = L_P + w b b' with b = e_0 - e_{n-1}: one eigenvalue 1 + w R_P(0, n-1) = 1 + (n-1) = n,
    # the others 1.
    cycle = _cycle(n, w)
    path = _drop(cycle, 0, n - 1)
    r = measure(cycle, path, method=method)  # type: ignore[arg-type]
    assert r.lambda_max == pytest.approx(n, rel=1e-9)
    assert r.lambda_min == pytest.approx(1.0, rel=1e-9)
    assert r.kappa == pytest.approx(n, rel=1e-9)
    assert (r.stats.density, r.stats.off_tree_density, r.components) == ((n - 1) / n, 0.0, 1)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_sparsifier_equal_to_graph_has_kappa_one(method: str) -> None:
    g = delaunay(300, weights="lognormal", seed=2)
    r = measure(g, g, method=method)  # type: ignore[arg-type]
    assert r.kappa == pytest.approx(1.0, abs=1e-9)
    assert r.stats.edges_graph == r.stats.edges_sparsifier == g.m


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_components_are_measured_separately(method: str) -> None:
    # two cycles (5 and 8 nodes) and two isolated nodes; H: a path in each cycle
    g = _union(_cycle(5), _cycle(8, 3.0, first=5)).with_nodes(15)
    h = _drop(_drop(g, 0, 4), 5, 12)
    r = measure(g, h, method=method)  # type: ignore[arg-type]
    assert (r.components, r.sparsifier_components, r.stats.nodes) == (4, 4, 15)
    assert r.kappa == pytest.approx(8.0, rel=1e-9)
    assert r.stats.off_tree_density == 0.0


def test_more_components_in_h_means_infinite_kappa() -> None:
    g = _cycle(6)
    h = _drop(_drop(g, 0, 5), 2, 3)
    r = measure(g, h)
    assert (r.components, r.sparsifier_components) == (1, 2)
    assert math.isinf(r.kappa) and math.isinf(r.lambda_max) and math.isnan(r.lambda_min)
    d = r.to_dict()
    assert d["kappa"] is None and d["lambda_min"] is None and "infinite" in str(d["note"])


def test_h_must_be_a_subgraph() -> None:
    g = _cycle(6)
    with pytest.raises(ValueError, match=r"not a subgraph.*\(0, 3\)"):
        measure(g, EdgeList.normalize([0], [3], n=6))


def test_node_counts_may_differ_and_edgeless_graphs_are_trivial() -> None:
    g = _cycle(4)
    r = measure(g, _drop(g, 0, 3).with_nodes(4), method="dense")
    assert r.kappa == pytest.approx(4.0)
    empty = EdgeList.normalize([], [], n=5)
    assert measure(empty, empty).kappa == 1.0
    wider = measure(g, EdgeList.normalize([0, 1, 2], [1, 2, 3], n=4).with_nodes(9))
    assert (wider.stats.nodes, wider.components) == (9, 6)
    assert wider.kappa == pytest.approx(4.0)


graphs = st.tuples(
    st.integers(6, 60), st.integers(0, 2**32 - 1), st.floats(0.0, 0.8), st.booleans()
)


@settings(max_examples=25, deadline=None)
@given(graphs)
def test_sparse_agrees_with_dense(case: tuple[int, int, float, bool]) -> None:
    n, seed, extra, reweighted = case
    rng = np.random.default_rng(seed)
    g = (delaunay if seed % 2 else power_law)(n, seed=seed)
    g = EdgeList(g.n, g.u, g.v, rng.lognormal(0.0, 1.5, g.m))
    mask = spanning_forest(g, seed) | (rng.random(g.m) < extra)
    h = g.subset(mask)
    if reweighted:  # H's weights may differ from G's: lambda_min is then computed by Lanczos
        h = EdgeList(h.n, h.u, h.v, h.w * rng.uniform(0.5, 2.0, h.m))
    dense, sparse = measure(g, h, method="dense"), measure(g, h, method="sparse")
    assert sparse.method == "sparse"
    assert sparse.lambda_max == pytest.approx(dense.lambda_max, rel=1e-7)
    assert sparse.lambda_min == pytest.approx(dense.lambda_min, rel=1e-7)
    assert sparse.kappa == pytest.approx(dense.kappa, rel=1e-7)


def test_lambda_min_above_one_is_computed() -> None:
    # H is the path 0-1-...-n; the rest R of G (edges k-(k+2) and 0-3) is connected, so no cut
    # of G is crossed by H edges alone: lambda_min > 1 and the sparse method runs Lanczos twice.
    n = 40
    k = np.arange(n - 2)
    path = EdgeList.normalize(np.arange(n - 1), np.arange(1, n), n=n)
    rest = EdgeList.normalize(np.append(k, 0), np.append(k + 2, 3), n=n)
    g = _union(path, rest)
    dense, sparse = measure(g, path, method="dense"), measure(g, path, method="sparse")
    assert dense.lambda_min > 1.001
    assert sparse.lambda_min == pytest.approx(dense.lambda_min, rel=1e-8)
    assert sparse.lambda_max == pytest.approx(dense.lambda_max, rel=1e-8)


def test_auto_picks_by_size_and_reports_json() -> None:
    small = _cycle(30)
    assert measure(small, _drop(small, 0, 29)).method == "dense"
    big = delaunay(2500, seed=1)
    tree = big.subset(spanning_forest(big, 1))
    r = measure(big, tree, progress=lambda _m: None)
    assert r.method == "sparse" and r.kappa > 10
    d = r.to_dict()
    assert set(d) >= {"kappa", "lambda_max", "lambda_min", "density", "off_tree_density"}
    assert d["off_tree_density"] == pytest.approx(0.0)
