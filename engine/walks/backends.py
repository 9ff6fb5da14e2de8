"""Where the insertion walks run: Numba kernels, NumPy arrays, or CuPy arrays on a GPU.

The backend is chosen once by name (``auto`` takes CuPy when a GPU is usable, else Numba).
All backends compute the same walks from the same counter-based random words, so decisions
are identical everywhere. Everything sequential (the store, exact searches, deletion repairs)
runs on the CPU; the array backends keep a mirror of H's adjacency and update it after each
batch from the nodes the batch's delta touched, re-uploading everything only after the store
reallocated its arrays.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from sparsiflow.engine.exceptions import BackendUnavailableError
from sparsiflow.engine.rules.insertion import walks_many
from sparsiflow.engine.store.layout import GENERATION, Arrays
from sparsiflow.engine.walks.vectorized import insertion_walks_xp

__all__ = ["ArrayWalks", "NumbaWalks", "WalkBackend", "cupy_usable", "make_backend"]


class WalkBackend(Protocol):
    """Runs the dyGRASS insertion walks of many updates against H."""

    name: str

    def insertion_walks(
        self,
        s: Arrays,
        p: NDArray[np.int64],
        q: NDArray[np.int64],
        w: NDArray[np.float64],
        keys: NDArray[np.uint64],
        threshold: float,
        walkers: int,
        max_steps: int,
    ) -> tuple[NDArray[np.bool_], int]:
        """(found, steps): whether a walker from p reached q with w * R < threshold."""
        ...

    def sync(self, s: Arrays, touched: NDArray[np.int64]) -> None:
        """H changed at the ``touched`` nodes (dense ids) since the last call."""
        ...


class NumbaWalks:
    """Compiled loops over updates and walkers on the CPU."""

    name = "numba"

    def insertion_walks(
        self,
        s: Arrays,
        p: NDArray[np.int64],
        q: NDArray[np.int64],
        w: NDArray[np.float64],
        keys: NDArray[np.uint64],
        threshold: float,
        walkers: int,
        max_steps: int,
    ) -> tuple[NDArray[np.bool_], int]:
        found, steps = walks_many(
            s.h_start, s.h_deg, s.h_nbr, s.h_wt, p, q, w, keys, threshold, walkers, max_steps
        )
        return found, int(steps)

    def sync(self, s: Arrays, touched: NDArray[np.int64]) -> None:
        """Nothing to do: the kernels read the store directly."""


class ArrayWalks:
    """Step-synchronous walks in an array namespace (NumPy, or CuPy with H on the device)."""

    def __init__(self, xp: Any, name: str) -> None:
        self.xp = xp
        self.name = name
        self._mirror: dict[str, Any] = {}
        self._host: tuple[int, ...] = ()

    def _upload(self, s: Arrays) -> None:
        xp = self.xp
        self._mirror = {
            "start": xp.asarray(s.h_start),
            "deg": xp.asarray(s.h_deg),
            "nbr": xp.asarray(s.h_nbr),
            "wt": xp.asarray(s.h_wt),
        }
        self._host = _identity(s)

    def sync(self, s: Arrays, touched: NDArray[np.int64]) -> None:
        if self._host != _identity(s):
            self._upload(s)
            return
        if touched.size == 0:
            return
        xp, mirror = self.xp, self._mirror
        nodes = np.unique(touched)
        for name, host in (("start", s.h_start), ("deg", s.h_deg)):
            mirror[name][xp.asarray(nodes)] = xp.asarray(host[nodes])
        counts = s.h_cap[nodes].astype(np.int64)
        begins = s.h_start[nodes]
        at = np.repeat(begins - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        mirror["nbr"][xp.asarray(at)] = xp.asarray(s.h_nbr[at])
        mirror["wt"][xp.asarray(at)] = xp.asarray(s.h_wt[at])

    def insertion_walks(
        self,
        s: Arrays,
        p: NDArray[np.int64],
        q: NDArray[np.int64],
        w: NDArray[np.float64],
        keys: NDArray[np.uint64],
        threshold: float,
        walkers: int,
        max_steps: int,
    ) -> tuple[NDArray[np.bool_], int]:
        if self._host != _identity(s):
            self._upload(s)
        xp, m = self.xp, self._mirror
        found, steps = insertion_walks_xp(
            xp, m["start"], m["deg"], m["nbr"], m["wt"],
            xp.asarray(p), xp.asarray(q), xp.asarray(w), xp.asarray(keys),
            threshold, walkers, max_steps,
        )  # fmt: skip
        return np.asarray(found.get() if hasattr(found, "get") else found, dtype=np.bool_), steps

    def mirror(self) -> dict[str, NDArray[Any]]:
        """The mirrored H arrays, on the host (for tests)."""
        return {
            k: (v.get() if hasattr(v, "get") else np.asarray(v)) for k, v in self._mirror.items()
        }


def _identity(s: Arrays) -> tuple[int, ...]:
    """Changes when the store reallocates or compacts its arrays (the mirror is rebuilt)."""
    return (int(s.meta[GENERATION]), s.h_start.shape[0], s.h_nbr.shape[0])


def cupy_usable() -> bool:
    """Whether CuPy is installed and sees a CUDA device."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # not installed, no driver, no device: all mean "not usable"
        return False


def make_backend(name: str) -> WalkBackend:
    """The backend called ``name`` (auto, numba, numpy or cupy)."""
    if name == "auto":
        name = "cupy" if cupy_usable() else "numba"
    if name == "numba":
        return NumbaWalks()
    if name == "numpy":
        return ArrayWalks(np, "numpy")
    if name == "cupy":
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailableError(
                "backend 'cupy' needs CuPy: pip install 'sparsiflow[gpu]'"
            ) from exc
        if not cupy_usable():
            raise BackendUnavailableError("backend 'cupy': CuPy found no usable CUDA device")
        return ArrayWalks(cupy, "cupy")
    raise BackendUnavailableError(f"unknown backend {name!r}")
