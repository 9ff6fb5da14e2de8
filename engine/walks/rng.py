"""Counter-based random numbers: every draw is a pure function of (key, walker, step).

A walk can be replayed exactly from its key, on any backend, in any order: nothing carries
state from one draw to the next. Keys derive from (seed, graph id, batch, update index).
The mixer is SplitMix64's finalizer, applied twice; the functions below are written once in
array-namespace style (NumPy or CuPy arrays of uint64) and once for Numba kernels, and the
tests check that both give identical bits.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.store.edge_hash import mix64

__all__ = ["graph_hash", "index_below", "index_below_xp", "rand64", "rand64_xp", "update_keys"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def graph_hash(graph_id: str) -> int:
    """A stable 63-bit hash of a graph id (same on every run and machine)."""
    return int.from_bytes(hashlib.blake2b(graph_id.encode(), digest_size=8).digest(), "little") >> 1


@nb.njit(cache=True, nogil=True)
def update_keys(seed: int, graph: int, batch: int, first: int, count: int) -> NDArray[np.uint64]:
    """Keys of updates ``first .. first + count - 1`` of a batch."""
    base = mix64(mix64(np.uint64(seed) ^ np.uint64(graph)) + np.uint64(batch) * _GOLDEN)
    out = np.empty(count, np.uint64)
    for i in range(count):
        out[i] = mix64(base + np.uint64(first + i) * _GOLDEN)
    return out


@nb.njit(cache=True, nogil=True, inline="always")
def rand64(key: np.uint64, walker: int, step: int) -> np.uint64:
    """The random 64-bit word of (key, walker, step)."""
    counter = (np.uint64(walker) << np.uint64(32)) | np.uint64(step)
    return mix64(key ^ mix64(counter + _GOLDEN))


@nb.njit(cache=True, nogil=True, inline="always")
def index_below(r: np.uint64, m: int) -> int:
    """Map a random word to [0, m) (multiply-shift on the high 32 bits)."""
    return int(np.int64(((r >> np.uint64(32)) * np.uint64(m)) >> np.uint64(32)))


def _mix64_xp(z: Any) -> Any:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def rand64_xp(key: Any, walker: Any, step: Any) -> Any:
    """Array form of :func:`rand64` (uint64 arrays of any array namespace, broadcasting)."""
    counter = (walker.astype(np.uint64) << np.uint64(32)) | step.astype(np.uint64)
    return _mix64_xp(key ^ _mix64_xp(counter + _GOLDEN))


def index_below_xp(r: Any, m: Any) -> Any:
    """Array form of :func:`index_below`."""
    return ((r >> np.uint64(32)) * m.astype(np.uint64)) >> np.uint64(32)
