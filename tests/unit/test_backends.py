"""Every walk backend takes the same walks: Numba kernels against the array-namespace code."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from sparsiflow.connector.wire.deltas import delta_lists
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.exceptions import BackendUnavailableError
from sparsiflow.engine.rules.insertion import walks_many
from sparsiflow.engine.walks.backends import ArrayWalks, cupy_usable, make_backend
from sparsiflow.engine.walks.kernels import path_walks
from sparsiflow.engine.walks.vectorized import insertion_walks_xp, path_walks_xp
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream


def _engine(n: int = 3000, seed: int = 0, **config: Any) -> tuple[Engine, Any]:
    full = delaunay(n, weights="lognormal", seed=seed)
    stream = update_stream(full, 0.25, 0.02, seed=seed)
    base = stream.base
    cfg = EngineConfig(**config)
    engine = Engine.from_graph(base.u, base.v, base.w, config=cfg, nodes=np.arange(base.n))
    return engine, stream


def _cupy() -> Any:
    import cupy

    return cupy


NAMESPACES = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
]


def _xp(name: str) -> Any:
    return np if name == "numpy" else _cupy()


@pytest.mark.parametrize("space", NAMESPACES)
def test_insertion_walks_are_identical(space: str) -> None:
    xp = _xp(space)
    engine, _ = _engine()
    s = engine._store.arrays
    rng = np.random.default_rng(1)
    p = rng.integers(0, 3000, 400)
    q = (p + rng.integers(1, 40, 400)) % 3000
    w = rng.lognormal(size=400)
    keys = rng.integers(0, 2**63, 400).astype(np.uint64)
    want, want_steps = walks_many(s.h_start, s.h_deg, s.h_nbr, s.h_wt, p, q, w, keys, 6.0, 64, 40)
    dev = [xp.asarray(a) for a in (s.h_start, s.h_deg, s.h_nbr, s.h_wt)]
    got, got_steps = insertion_walks_xp(
        xp, *dev, xp.asarray(p), xp.asarray(q), xp.asarray(w), xp.asarray(keys), 6.0, 64, 40
    )
    got = got.get() if hasattr(got, "get") else got
    np.testing.assert_array_equal(got, want)
    assert got_steps == want_steps
    assert 0 < want.sum() < want.size  # both outcomes occur: the comparison means something


@pytest.mark.parametrize("space", NAMESPACES)
def test_repair_walks_are_identical(space: str) -> None:
    xp = _xp(space)
    engine, _ = _engine()
    s = engine._store.arrays
    dev = [xp.asarray(a) for a in (s.g_start, s.g_deg, s.g_nbr, s.g_wt)]
    rng = np.random.default_rng(2)
    arrivals = 0
    for _ in range(60):
        p, q = (int(x) for x in rng.integers(0, 3000, 2))
        key = int(rng.integers(0, 2**63))
        want = path_walks(s.g_start, s.g_deg, s.g_nbr, s.g_wt, p, q, 128, 30, np.uint64(key))
        got = path_walks_xp(xp, *dev, p, q, key, 128, 30)
        assert got == tuple(int(x) for x in want)
        arrivals += want[0] >= 0
    assert 0 < arrivals < 60


@pytest.mark.parametrize("backend", NAMESPACES)
def test_dygrass_engine_deltas_match_numba(backend: str) -> None:
    config = {"mode": "dygrass", "threshold": 8.0, "walkers": 48, "max_steps": 30, "seed": 5}
    reference, stream = _engine(**config, backend="numba")
    other, _ = _engine(**config, backend=backend)
    assert other.backend == backend
    batch = stream.batch()
    size = len(batch) // 8 + 1
    for begin in range(0, len(batch), size):
        part = batch.slice(begin, begin + size)
        assert delta_lists(other.apply(part).delta) == delta_lists(reference.apply(part).delta)
    walks = other._walks
    assert isinstance(walks, ArrayWalks)
    _assert_mirror_matches(walks, other)


def _assert_mirror_matches(walks: ArrayWalks, engine: Engine) -> None:
    """After the batches, the mirror holds H exactly (live entries of every node's block)."""
    s = engine._store.arrays
    mirror = walks.mirror()
    n = engine._store.nodes
    np.testing.assert_array_equal(mirror["deg"][:n], s.h_deg[:n])
    np.testing.assert_array_equal(mirror["start"][:n], s.h_start[:n])
    for x in range(n):
        a, b = s.h_start[x], s.h_start[x] + s.h_deg[x]
        np.testing.assert_array_equal(mirror["nbr"][a:b], s.h_nbr[a:b])
        np.testing.assert_array_equal(mirror["wt"][a:b], s.h_wt[a:b])


def test_missing_cupy_names_the_gpu_extra() -> None:
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(BackendUnavailableError, match=r"sparsiflow\[gpu\]"):
            make_backend("cupy")
    elif not cupy_usable():
        with pytest.raises(BackendUnavailableError, match="no usable CUDA device"):
            make_backend("cupy")
    else:
        assert make_backend("cupy").name == "cupy"
    assert make_backend("auto").name == ("cupy" if cupy_usable() else "numba")
    with pytest.raises(BackendUnavailableError, match="unknown backend"):
        make_backend("tpu")
