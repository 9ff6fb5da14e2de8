"""Matrix Market graph files, read and written with ``fast_matrix_market``.

Conventions (DESIGN.md section 4): a stored entry ``(i, j)`` with ``i != j`` is an edge of weight
``|a_ij|`` (so Laplacian files work: their off-diagonals are negative); diagonal entries and
explicit zeros carry no edge; a symmetric file lists each edge once, a general file usually
twice (``(i, j)`` and ``(j, i)``: one edge, the entry read last wins); pattern files have unit
weights; row ``i`` is node id ``i - 1``. Graphs are written as symmetric, real, coordinate files
holding the lower triangle.

The paper's update streams are files of inserted edges: a Matrix Market file, or (as the dyGRASS
reference writes them) bare ``i j [w]`` lines with 1-based ids and no banner.
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import fast_matrix_market as fmm
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sparsiflow.engine.exceptions import GraphFormatError, InvalidUpdateError
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import UpdateBatch

__all__ = ["read_edge_stream", "read_graph", "write_graph"]

StrPath = str | PathLike[str]

_BANNER = "%%matrixmarket"


def read_graph(path: StrPath) -> EdgeList:
    """The graph stored in a Matrix Market file (square, real/integer/pattern field)."""
    rows, cols, vals, (nrows, ncols) = _read_entries(path)
    if nrows != ncols:
        raise GraphFormatError(f"{path}: a graph matrix must be square, got {nrows} x {ncols}")
    rows, cols, vals = _edges_only(path, rows, cols, vals)
    try:
        return EdgeList.normalize(rows, cols, vals, n=nrows)
    except InvalidUpdateError as exc:
        raise GraphFormatError(f"{path}: {exc}") from exc


def write_graph(path: StrPath, edges: EdgeList, comment: str | None = None) -> None:
    """Write ``edges`` as a symmetric real coordinate file (row ``v + 1`` > column ``u + 1``)."""
    lower = sp.coo_matrix((edges.w, (edges.v, edges.u)), shape=(edges.n, edges.n))
    fmm.mmwrite(str(path), lower, comment=comment, symmetry="symmetric", field="real")


def read_edge_stream(path: StrPath) -> UpdateBatch:
    """Inserted edges of a stream file, in file order, as a batch of inserts (0-based ids).

    Accepts a Matrix Market file (any size header: node ids may exceed the graph's) or bare
    ``i j [w]`` lines with 1-based ids (``%`` comments allowed; no ``w`` means weight 1).
    Repeated edges are kept in order (a later insert sets the weight).
    """
    if _has_banner(path):
        rows, cols, vals, _ = _read_entries(path)
    else:
        rows, cols, vals = _read_bare(path)
    rows, cols, vals = _edges_only(path, rows, cols, vals)
    try:
        return UpdateBatch.inserts(rows, cols, vals)
    except InvalidUpdateError as exc:
        raise GraphFormatError(f"{path}: {exc}") from exc


def _read_entries(
    path: StrPath,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], tuple[int, int]]:
    """Stored entries of a Matrix Market file, 0-based, without symmetric expansion."""
    try:
        header = fmm.read_header(str(path))
        if header.field == "complex":
            raise GraphFormatError(f"{path}: complex matrices are not graphs")
        if header.object != "matrix":
            raise GraphFormatError(f"{path}: expected a matrix, got a {header.object}")
        (vals, (rows, cols)), shape = fmm.read_coo(str(path), generalize_symmetry=False)
    except (ValueError, RuntimeError) as exc:
        raise GraphFormatError(f"{path}: not a readable Matrix Market file: {exc}") from exc
    return (
        np.asarray(rows, dtype=np.int64),
        np.asarray(cols, dtype=np.int64),
        np.asarray(vals, dtype=np.float64),
        (int(shape[0]), int(shape[1])),
    )


def _read_bare(
    path: StrPath,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``i j [w]`` lines with 1-based ids (the dyGRASS reference's stream files)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(path, comments="%", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise GraphFormatError(f"{path}: expected 'i j [w]' lines: {exc}") from exc
    if table.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if table.shape[1] not in (2, 3):
        raise GraphFormatError(f"{path}: expected 2 or 3 columns, got {table.shape[1]}")
    ids = table[:, :2]
    if not (np.all(ids == np.round(ids)) and ids.min() >= 1):
        raise GraphFormatError(f"{path}: node ids must be integers >= 1")
    vals = table[:, 2] if table.shape[1] == 3 else np.ones(table.shape[0])
    return ids[:, 0].astype(np.int64) - 1, ids[:, 1].astype(np.int64) - 1, vals


def _edges_only(
    path: StrPath, rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Drop diagonal entries and explicit zeros; weights are absolute values; reject NaN/inf."""
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        k = bad[0]
        raise GraphFormatError(
            f"{path}: entry ({rows[k] + 1}, {cols[k] + 1}) has a non-finite value {vals[k]!r}"
        )
    keep = (rows != cols) & (vals != 0)
    return rows[keep], cols[keep], np.abs(vals[keep])


def _has_banner(path: StrPath) -> bool:
    with Path(path).open("rb") as fh:
        return fh.read(len(_BANNER)).decode("ascii", "replace").lower() == _BANNER
