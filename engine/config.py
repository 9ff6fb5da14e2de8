"""Engine configuration: the method, its parameters and the array backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "BACKENDS",
    "DEFAULT_TARGET_KAPPA",
    "MODES",
    "THRESHOLD_PER_TARGET",
    "Backend",
    "EngineConfig",
    "Mode",
]

Mode = Literal["default", "dygrass"]
Backend = Literal["auto", "numpy", "numba", "cupy"]
MODES: tuple[Mode, ...] = get_args(Mode)
"""Every mode, in the order the command line lists them."""
BACKENDS: tuple[Backend, ...] = get_args(Backend)
"""Every backend name (``auto`` first)."""
DEFAULT_TARGET_KAPPA = 100.0
"""The default quality contract (README, "Quality": how it was chosen)."""
THRESHOLD_PER_TARGET = 0.25
"""The local rule's threshold K per unit of target kappa when K is not set."""
_THRESHOLD_WITHOUT_TARGET = 50.0


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of the dynamic sparsifier.

    mode: ``default`` (our method: exact local resistance-ratio test with parallel paths,
        intra-batch visibility) or ``dygrass`` (the paper's semantics: uniform non-backtracking
        walks in H judged against H at batch start, every walker run to the end).
    threshold: K, the local rule's test, an expert override; None (the default) takes
        ``target_kappa / 4`` (``THRESHOLD_PER_TARGET``), or 50 without a target.
        ``default``: an inserted edge (p, q, w) is critical unless H's p-q resistance is below
        K times G's (``R_H < K * R_G``: the pair does not prove kappa > K). ``dygrass``:
        critical unless a walker finds a p-q path in H with ``w * R < K`` (R_G bounded by the
        edge alone).
    walkers, max_steps: walkers per update (W) and steps per walker (T) of the walk rules.
    repair_discount: in default-mode deletion repair, edges already in H cost this fraction
        of their resistance, so repairs reuse H and add few edges.
    repair_lowered: an H edge whose new weight is at most this fraction of its weight before
        the batch is repaired as a deleted one would be (the edges H lacks on the least-cost
        path around it in G enter H) and keeps its new weight; a lowered H edge weakens every
        direction across it, as a deletion does (0: never).
    parallel_paths: default mode: up to this many edge-disjoint paths are combined in
        parallel (1/R = sum 1/R_i) to bound R_H (and, the edge counting as one, R_G).
    seed: RNG seed; with the graph id, batch number and update index it keys every walk.
    backend: where walks run; ``auto`` takes CuPy when a GPU is usable, else Numba.
    target_kappa: the quality contract: checks (``sparsiflow.engine.quality.keeper``) recover
        spectrally critical edges of G into H until the estimated kappa is at most this value.
        None: checks only measure.
    kappa_change: a check starts after the first batch, then again once this fraction of G's
        edges has been updated since the last one started, and its result enters a window of
        as many updates later (0: no checks, kappa neither measured nor held).
    control_rounds: most estimate-and-recover rounds per check.
    bulk_growth: a batch whose new edges number at least this times G's edges before it (so
        every batch into an empty G) builds H for the whole G at once, to the target at the
        least density found (``quality.control.build_to_target``, as ``sparsify
        --target-kappa``), instead of judging its edges one by one (0: never).
    threads: threads for the batch phases that only read H (the default rule's pre-filter,
        the dyGRASS walks on the Numba backend); each extra thread holds its own search
        workspace. Results do not depend on it.
    """

    mode: Mode = "default"
    threshold: float | None = None
    walkers: int = 512
    max_steps: int = 100
    repair_discount: float = 0.25
    repair_lowered: float = 0.5
    parallel_paths: int = 3
    seed: int = 0
    backend: Backend = "auto"
    target_kappa: float | None = DEFAULT_TARGET_KAPPA
    kappa_change: float = 0.25
    control_rounds: int = 8
    bulk_growth: float = 0.5
    threads: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.threshold is not None and not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.walkers < 1 or self.max_steps < 1:
            raise ValueError("walkers and max_steps must be >= 1")
        if not 0 < self.repair_discount <= 1:
            raise ValueError("repair_discount must be in (0, 1]")
        if not 0 <= self.repair_lowered <= 1:
            raise ValueError(f"repair_lowered must be in [0, 1], got {self.repair_lowered}")
        if self.parallel_paths < 1:
            raise ValueError("parallel_paths must be >= 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}")
        if self.target_kappa is not None and not self.target_kappa > 1:
            raise ValueError("target_kappa must be > 1")
        if not 0 <= self.kappa_change <= 1:
            raise ValueError(f"kappa_change must be in [0, 1], got {self.kappa_change}")
        if not self.bulk_growth >= 0:
            raise ValueError(f"bulk_growth must be >= 0, got {self.bulk_growth}")
        if self.control_rounds < 1:
            raise ValueError("control_rounds must be >= 1")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    @property
    def local_threshold(self) -> float:
        """K of the local rule: ``threshold``, else derived from the target."""
        if self.threshold is not None:
            return self.threshold
        if self.target_kappa is None:
            return _THRESHOLD_WITHOUT_TARGET
        return THRESHOLD_PER_TARGET * self.target_kappa
