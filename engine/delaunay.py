"""Edges of the Delaunay triangulation of points in the plane."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import Delaunay

__all__ = ["triangulation_edges"]


def triangulation_edges(
    points: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each edge of the Delaunay triangulation of ``points`` (shape (n, 2)) exactly once."""
    tri = Delaunay(points)
    simplices = tri.simplices.astype(np.int64)
    neighbors = tri.neighbors.astype(np.int64)
    own = np.arange(simplices.shape[0], dtype=np.int64)[:, None]
    # The edge opposite corner k of triangle t is shared with neighbors[t, k]: the triangle of
    # lower index (or the only one, on the hull) reports it.
    mine = (neighbors > own) | (neighbors < 0)
    t, k = np.nonzero(mine)
    return simplices[t, (k + 1) % 3], simplices[t, (k + 2) % 3]
