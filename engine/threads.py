"""Optional worker threads for the batch phases that only read G and H.

The default rule's pre-filter and the dyGRASS walks judge every update of a batch on its own
against the H of the batch start, and their Numba kernels release the GIL, so contiguous chunks
of a batch run on ``threads`` threads at once (the calling thread takes the first chunk). Results
do not depend on the thread count: each update's decision and random words are its own.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

__all__ = ["Chunks"]

T = TypeVar("T")

_MIN_CHUNK = 256  # updates per thread below which one thread does it all


class Chunks:
    """Runs a per-chunk function over a batch on up to ``threads`` threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, "sparsiflow") if threads > 1 else None
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False)

    def run(self, total: int, work: Callable[[int, slice], T]) -> list[T]:
        """``work(k, chunk)`` for contiguous chunks of ``range(total)``, k = 0, 1, ... (chunk k
        on worker k, worker 0 being the calling thread); results in chunk order."""
        parts = max(1, min(self.threads, total // _MIN_CHUNK))
        bounds = np.linspace(0, total, parts + 1).astype(np.int64)
        chunks = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        if self._pool is None or parts == 1:
            return [work(k, c) for k, c in enumerate(chunks)]
        futures = [self._pool.submit(work, k, c) for k, c in enumerate(chunks) if k > 0]
        first = work(0, chunks[0])
        return [first, *(f.result() for f in futures)]
