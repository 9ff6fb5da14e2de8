"""Matrix Market conventions of DESIGN.md section 4, and the paper's stream files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsiflow.connector.wire.matrix_market import read_edge_stream, read_graph, write_graph
from sparsiflow.engine.exceptions import GraphFormatError
from sparsiflow.engine.graph.edges import EdgeList, laplacian
from sparsiflow.engine.graph.updates import Op


def _write(tmp_path: Path, text: str, name: str = "g.mtx") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _triples(e: EdgeList) -> list[tuple[int, int, float]]:
    return list(zip(e.u.tolist(), e.v.tolist(), e.w.tolist(), strict=True))


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(1, 30),
    st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29), st.floats(1e-9, 1e9)), max_size=60),
)
def test_write_then_read_is_exact(
    tmp_path: Path, n: int, rows: list[tuple[int, int, float]]
) -> None:
    rows = [(a % n, b % n, w) for a, b, w in rows]
    u, v, w = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    g = EdgeList.normalize(u, v, w, n=n)
    path = tmp_path / "rt.mtx"
    write_graph(path, g, comment="round trip")
    back = read_graph(path)
    assert back.n == n
    assert _triples(back) == _triples(g)  # shortest repr: bit-exact weights
    head = path.read_text().splitlines()
    assert head[0] == "%%MatrixMarket matrix coordinate real symmetric"
    body = [line.split() for line in head if not line.startswith("%")][1:]
    assert all(int(r) > int(c) for r, c, _ in body)  # lower triangle


def test_laplacian_file_gives_the_graph(tmp_path: Path) -> None:
    g = EdgeList.normalize([0, 1, 0], [1, 2, 3], [2.0, 0.5, 4.0], n=5)
    lap = laplacian(g).tocoo()
    lines = [
        f"{r + 1} {c + 1} {float(x)!r}" for r, c, x in zip(lap.row, lap.col, lap.data, strict=True)
    ]
    text = "%%MatrixMarket matrix coordinate real general\n" + f"5 5 {len(lines)}\n"
    back = read_graph(_write(tmp_path, text + "\n".join(lines) + "\n"))
    assert back.n == 5  # the isolated node 4 is kept
    assert _triples(back) == _triples(g)


def test_symmetric_pattern_and_integer_files(tmp_path: Path) -> None:
    pattern = "%%MatrixMarket matrix coordinate pattern symmetric\n4 4 3\n2 1\n3 2\n3 3\n"
    assert _triples(read_graph(_write(tmp_path, pattern))) == [(0, 1, 1.0), (1, 2, 1.0)]
    integer = "%%MatrixMarket matrix coordinate integer symmetric\n3 3 2\n2 1 -7\n3 1 0\n"
    assert _triples(read_graph(_write(tmp_path, integer))) == [(0, 1, 7.0)]


def test_general_file_lists_each_edge_twice(tmp_path: Path) -> None:
    text = "%%MatrixMarket matrix coordinate real general\n3 3 4\n1 2 1.5\n2 1 1.5\n2 3 2\n3 2 2\n"
    assert _triples(read_graph(_write(tmp_path, text))) == [(0, 1, 1.5), (1, 2, 2.0)]


def test_dense_array_file(tmp_path: Path) -> None:
    text = "%%MatrixMarket matrix array real general\n2 2\n3\n-3\n-3\n3\n"
    assert _triples(read_graph(_write(tmp_path, text))) == [(0, 1, 3.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 2 3\n", "not a readable Matrix Market"),
        ("%%MatrixMarket matrix coordinate complex general\n2 2 1\n2 1 1 2\n", "complex"),
        ("%%MatrixMarket matrix coordinate real general\n2 3 1\n2 1 1\n", "square"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n2 1 nan\n", "non-finite"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n2 1 inf\n", "non-finite"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 2\n2 1 1\n", "not a readable"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n5 1 1\n", "not a readable"),
        ("%%MatrixMarket vector coordinate real general\n2 1\n1 1\n", "not a readable"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GraphFormatError, match=message):
        read_graph(_write(tmp_path, text))


def test_stream_file_in_matrix_market_form(tmp_path: Path) -> None:
    text = "%%MatrixMarket matrix coordinate real general\n900 900 3\n5 800 2.5\n2 1 -1\n4 4 9\n"
    batch = read_edge_stream(_write(tmp_path, text))
    assert batch.ops.tolist() == [Op.INSERT, Op.INSERT]
    assert (batch.u.tolist(), batch.v.tolist(), batch.w.tolist()) == ([4, 1], [799, 0], [2.5, 1.0])


def test_stream_file_in_bare_reference_form(tmp_path: Path) -> None:
    batch = read_edge_stream(_write(tmp_path, "% edges\n3 9 1.5\n3 9 2\n10 1 0.25\n"))
    assert (batch.u.tolist(), batch.v.tolist()) == ([2, 2, 9], [8, 8, 0])
    assert batch.w.tolist() == [1.5, 2.0, 0.25]  # repeats are kept, in order
    unweighted = read_edge_stream(_write(tmp_path, "1 2\n2 3\n", "s.mtx"))
    assert unweighted.w.tolist() == [1.0, 1.0]
    assert len(read_edge_stream(_write(tmp_path, "", "empty.mtx"))) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 2 3 4\n", "2 or 3 columns"),
        ("0 2 1\n", "integers >= 1"),
        ("1 x 1\n", "i j"),
        ("1 2 nan\n", "non-finite"),
    ],
)
def test_bad_stream_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GraphFormatError, match=message):
        read_edge_stream(_write(tmp_path, text))


def test_large_ids_round_trip(tmp_path: Path) -> None:
    g = EdgeList.normalize(np.array([0, 70_000]), np.array([99_999, 99_998]), n=100_000)
    write_graph(tmp_path / "big.mtx", g)
    assert _triples(read_graph(tmp_path / "big.mtx")) == _triples(g)
