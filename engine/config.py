"""Engine configuration: the method, its parameters and the array backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["BACKENDS", "MODES", "Backend", "EngineConfig", "Mode"]

Mode = Literal["default", "dygrass"]
Backend = Literal["auto", "numpy", "numba", "cupy"]
MODES: tuple[Mode, ...] = get_args(Mode)
"""Every mode, in the order the command line lists them."""
BACKENDS: tuple[Backend, ...] = get_args(Backend)
"""Every backend name (``auto`` first)."""


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of the dynamic sparsifier.

    mode: ``default`` (our method: exact local resistance-ratio test with parallel paths,
        intra-batch visibility) or ``dygrass`` (the paper's semantics: uniform non-backtracking
        walks in H judged against H at batch start, every walker run to the end).
    threshold: K. ``default``: an inserted edge (p, q, w) is critical unless H's p-q
        resistance is below K times G's (``R_H < K * R_G``: the pair does not prove
        kappa > K). ``dygrass``: critical unless a walker finds a p-q path in H with
        ``w * R < K`` (R_G bounded by the edge alone).
    walkers, max_steps: walkers per update (W) and steps per walker (T) of the walk rules.
    repair_discount: in default-mode deletion repair, edges already in H cost this fraction
        of their resistance, so repairs reuse H and add few edges.
    parallel_paths: default mode: up to this many edge-disjoint paths are combined in
        parallel (1/R = sum 1/R_i) to bound R_H (and, the edge counting as one, R_G).
    seed: RNG seed; with the graph id, batch number and update index it keys every walk.
    backend: where walks run; ``auto`` takes CuPy when a GPU is usable, else Numba.
    target_kappa: when set, a control loop (``sparsiflow.engine.quality.control``) recovers
        spectrally critical edges of G into H until the estimated kappa is at most this value.
    control_every: run that loop at the end of the first batch and of every this many-th
        batch after it (batches 0, N, 2N, ...; it costs a few Lanczos solves with a fresh
        factorization of L_H per round).
    control_rounds: most estimate-and-recover rounds per run.
    threads: threads for the batch phases that only read H (the default rule's pre-filter,
        the dyGRASS walks on the Numba backend); each extra thread holds its own search
        workspace. Results do not depend on it.
    """

    mode: Mode = "default"
    threshold: float = 50.0
    walkers: int = 512
    max_steps: int = 100
    repair_discount: float = 0.25
    parallel_paths: int = 3
    seed: int = 0
    backend: Backend = "auto"
    target_kappa: float | None = None
    control_every: int = 1
    control_rounds: int = 8
    threads: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.walkers < 1 or self.max_steps < 1:
            raise ValueError("walkers and max_steps must be >= 1")
        if not 0 < self.repair_discount <= 1:
            raise ValueError("repair_discount must be in (0, 1]")
        if self.parallel_paths < 1:
            raise ValueError("parallel_paths must be >= 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}")
        if self.target_kappa is not None and not self.target_kappa > 1:
            raise ValueError("target_kappa must be > 1")
        if self.control_every < 1 or self.control_rounds < 1:
            raise ValueError("control_every and control_rounds must be >= 1")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
