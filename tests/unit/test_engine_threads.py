"""The engine's kernels release the GIL: a worker's event loop keeps running during a batch."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream


def test_main_thread_keeps_running_during_a_long_batch() -> None:
    stream = update_stream(delaunay(2**16, weights="lognormal", seed=2), 0.25, 0.0, seed=2)
    base = stream.base
    config = EngineConfig(mode="dygrass", threshold=50.0, walkers=512, max_steps=100)
    engine = Engine.from_graph(base.u, base.v, base.w, config=config, nodes=np.arange(base.n))
    batch = stream.batch()
    engine.apply(batch.slice(0, 10))  # load the kernels first
    ticks: list[float] = []
    worker = threading.Thread(target=engine.apply, args=(batch.slice(10, len(batch)),))
    start = time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    busy = time.perf_counter() - start
    gaps = np.diff([start, *ticks])
    assert busy > 0.3, "the batch should take a while for this test to mean something"
    assert gaps.max() < 0.25 * busy, f"main thread stalled {gaps.max():.2f} s of {busy:.2f} s"


@pytest.mark.parametrize("mode", ["default", "dygrass"])
def test_results_do_not_depend_on_the_thread_count(mode: str) -> None:
    stream = update_stream(delaunay(2**12, weights="lognormal", seed=5), 0.4, 0.02, seed=5)
    base = stream.base
    deltas = {}
    for threads in (1, 3):
        config = EngineConfig(mode=mode, threshold=4.0, walkers=64, threads=threads)  # type: ignore[arg-type]
        engine = Engine.from_graph(base.u, base.v, base.w, config=config, nodes=np.arange(base.n))
        batch = stream.batch()
        reports = [engine.apply(batch.slice(a, a + 800)) for a in range(0, len(batch), 800)]
        deltas[threads] = [r.delta for r in reports]
        assert sum(r.critical for r in reports) > 0
    for one, three in zip(deltas[1], deltas[3], strict=True):
        for name, column in vars(one).items():
            np.testing.assert_array_equal(column, getattr(three, name))
