"""Compile (or load) every Numba kernel ahead of time: the engine's in each mode and the
workload generators', then mark the kernel cache warm (:mod:`sparsiflow.engine.kernel_cache`).
Behind ``sparsiflow warmup`` (run by the Docker builds) and the demo's first run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WarmUp", "warm_up_all"]


@dataclass(frozen=True)
class WarmUp:
    """What a warm-up did: kernel versions loaded from the cache and compiled, its seconds and
    the cache folder."""

    loaded: int
    compiled: int
    seconds: float
    folder: Path

    def describe(self) -> str:
        what = (
            f"compiled {self.compiled} kernels"
            if self.compiled
            else f"loaded {self.loaded} kernels from the cache"
        )
        return f"{what} in {self.seconds:.1f} s ({self.folder})"


def warm_up_all() -> WarmUp:
    """Run tiny workloads through every kernel (each engine mode on the Numba backend, which
    holds the CPU walk kernels a GPU worker falls back to; a small Delaunay graph), then record
    the cache as warm."""
    from sparsiflow.engine import kernel_cache
    from sparsiflow.engine.config import MODES, EngineConfig
    from sparsiflow.engine.engine import warm_up
    from sparsiflow.workloads import families

    start = time.perf_counter()
    for mode in MODES:
        warm_up(EngineConfig(mode=mode, backend="numba"))
    families.build("delaunay", 200, seed=0)
    seconds = time.perf_counter() - start
    folder = kernel_cache.kernel_dir()
    kernel_cache.mark_warm(seconds, folder)
    loaded, compiled = kernel_cache.compile_counts()
    return WarmUp(loaded, compiled, seconds, folder)
