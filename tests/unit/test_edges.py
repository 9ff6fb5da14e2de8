"""EdgeList: canonical form, validation, Laplacian, components, edge lookup."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components

from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.edges import EdgeList, components, laplacian, locate

raw_edges = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 11), st.floats(0.01, 100.0)), max_size=40
)


def test_normalize_orients_drops_loops_and_sorts() -> None:
    e = EdgeList.normalize([3, 2, 1, 4], [1, 2, 0, 0], [1.0, 9.0, 2.0, 3.0])
    assert e.n == 5
    assert e.u.tolist() == [0, 0, 1]
    assert e.v.tolist() == [1, 4, 3]
    assert e.w.tolist() == [2.0, 3.0, 1.0]


def test_last_duplicate_wins_in_either_orientation() -> None:
    e = EdgeList.normalize([0, 1, 0], [1, 0, 1], [1.0, 2.0, 3.0])
    assert (e.m, e.w.tolist()) == (1, [3.0])
    e = EdgeList.normalize([0, 1], [1, 0], [1.0, 2.0])
    assert e.w.tolist() == [2.0]


def test_unit_weights_and_explicit_node_count() -> None:
    e = EdgeList.normalize([0], [1], n=10)
    assert (e.n, e.w.tolist()) == (10, [1.0])


@pytest.mark.parametrize(
    ("u", "v", "w", "n", "message"),
    [
        ([0], [1], [0.0], None, "finite and > 0"),
        ([0], [1], [-1.0], None, "finite and > 0"),
        ([0], [1], [np.nan], None, "finite and > 0"),
        ([0], [1], [np.inf], None, "finite and > 0"),
        ([0], [-1], [1.0], None, "negative"),
        ([0], [5], [1.0], 3, "out of range"),
        ([0.5], [1], [1.0], None, "integers"),
        ([0, 1], [1], [1.0], None, "equal length"),
        ([0], [2**40], [1.0], None, "not below 2"),
    ],
)
def test_bad_input_is_rejected(
    u: list[float], v: list[int], w: list[float], n: int | None, message: str
) -> None:
    with pytest.raises(InvalidUpdateError, match=message):
        EdgeList.normalize(u, v, w, n=n)


def test_empty_graph() -> None:
    e = EdgeList.normalize([], [], [], n=4)
    assert (e.n, e.m) == (4, 0)
    assert components(e)[0] == 4
    assert not laplacian(e).toarray().any()


@given(raw_edges)
def test_normalize_is_canonical_and_idempotent(rows: list[tuple[int, int, float]]) -> None:
    u, v, w = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    e = EdgeList.normalize(u, v, w, n=12)
    assert np.all(e.u < e.v)
    assert np.all(np.diff(e.keys()) > 0)  # sorted, no duplicates
    expected = {}
    for a, b, c in rows:
        if a != b:
            expected[(min(a, b), max(a, b))] = c  # the last one wins
    assert dict(zip(zip(e.u.tolist(), e.v.tolist(), strict=True), e.w.tolist(), strict=True)) == (
        expected
    )
    again = EdgeList.normalize(e.u, e.v, e.w, n=e.n)
    assert np.array_equal(again.keys(), e.keys()) and np.array_equal(again.w, e.w)


@given(raw_edges, st.integers(0, 2**32 - 1))
def test_laplacian_quadratic_form(rows: list[tuple[int, int, float]], seed: int) -> None:
    u, v, w = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    e = EdgeList.normalize(u, v, w, n=12)
    x = np.random.default_rng(seed).standard_normal(12)
    lap = laplacian(e)
    assert np.allclose(lap @ np.ones(12), 0.0)
    assert np.allclose(lap.toarray(), lap.toarray().T)
    assert x @ (lap @ x) == pytest.approx(np.sum(e.w * (x[e.u] - x[e.v]) ** 2), rel=1e-9, abs=1e-9)


@given(raw_edges)
def test_components_number_labels_as_scipy_does(rows: list[tuple[int, int, float]]) -> None:
    u, v, w = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    e = EdgeList.normalize(u, v, w, n=12)
    graph = sp.coo_matrix((e.w, (e.u, e.v)), shape=(e.n, e.n))
    count, labels = connected_components(graph, directed=False)
    assert components(e)[0] == count
    assert components(e)[1].tolist() == labels.tolist()


def test_components_labels() -> None:
    e = EdgeList.normalize([0, 1, 3], [1, 2, 4], n=6)
    count, labels = components(e)
    assert count == 3
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4] != labels[5]


def test_locate_finds_rows_or_minus_one() -> None:
    g = EdgeList.normalize([0, 1, 2, 0], [1, 2, 3, 3])
    probe = EdgeList.normalize([0, 1, 0], [3, 3, 1], n=4)
    rows = locate(g, probe)
    assert [(int(g.u[r]), int(g.v[r])) if r >= 0 else None for r in rows] == [(0, 1), (0, 3), None]
    assert locate(EdgeList.normalize([], [], n=4), probe).tolist() == [-1, -1, -1]
    with pytest.raises(InvalidUpdateError):
        locate(probe, EdgeList.normalize([0], [9]))


def test_subset_and_with_nodes() -> None:
    g = EdgeList.normalize([0, 1], [1, 2])
    assert g.subset(np.array([False, True])).u.tolist() == [1]
    assert g.with_nodes(7).n == 7
    with pytest.raises(InvalidUpdateError):
        g.with_nodes(2)
