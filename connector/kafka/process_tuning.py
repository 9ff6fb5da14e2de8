"""Process-wide settings of the worker: the garbage collector and the BLAS thread pool.

*Garbage collector.* Intake builds a few small objects per input record (the record, its
decoded update, its place in an open batch), and an open batch keeps them alive until it is
published: at 100,000 records/s with CPython's defaults the collector runs a young collection
every ~100 records and keeps re-scanning everything the imports left behind (Faust, NumPy,
SciPy: hundreds of thousands of objects). Measured on the 2-core development machine, intake of
single-update records: 11.8 us per record with the defaults, 7.3 us with the startup objects
frozen and :data:`GC_THRESHOLDS` (``gc.freeze`` moves them out of every later collection;
cycles are still collected, only less often).

*BLAS threads.* The worker's cores already run intake, the engine and its kappa checks' process
(which limits its own BLAS to one thread); the engine's dense vector work in OpenBLAS (bulk
builds to the target estimate kappa here) would start one more thread per core, which then spin
against them: two bulk builds of a 32,768-node graph took 4.5 s with OpenBLAS's threads and
0.8 s with one (the same machine, with other work running beside, as in a worker).

*GIL switch interval.* The engine's kernels release the GIL, but between them its Python code
needs it back from the intake, which holds it until CPython's switch interval forces a handover
(5 ms): an engine batch then took 2.8x as long in the worker as inline; 2.0x at 1 ms
(single-update records, kappa checks off, ``bench.connector_throughput``).
"""

from __future__ import annotations

import gc
import sys

from threadpoolctl import threadpool_limits

__all__ = ["GC_THRESHOLDS", "SWITCH_INTERVAL", "tune_process"]

GC_THRESHOLDS = (10_000, 10, 10)
"""Allocations before a young collection (CPython: 700), then young collections per middle one
and middle per full one (CPython: 10, 10)."""


SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it (CPython: 0.005)."""


def tune_process() -> None:
    """One BLAS thread, a 1 ms GIL switch interval; freeze what exists now (call once the
    worker is assembled) and raise the collector's thresholds."""
    threadpool_limits(limits=1, user_api="blas")
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
