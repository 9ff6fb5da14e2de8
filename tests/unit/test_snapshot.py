"""Snapshots restore an engine that behaves exactly like the original."""

from __future__ import annotations

import numpy as np
import pytest

from sparsiflow.connector.wire.deltas import delta_lists
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.exceptions import SnapshotError
from sparsiflow.engine.graph.updates import Op, UpdateBatch


def _grid(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.arange(k * k).reshape(k, k) * 7 + 3  # sparse, shifted ids
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return u, v, np.random.default_rng(1).lognormal(size=u.size)


def _batches(u: np.ndarray, v: np.ndarray, seed: int) -> list[UpdateBatch]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        a, b = rng.choice(np.unique(np.concatenate([u, v])), (2, 80))
        keep = a != b
        ins = UpdateBatch.inserts(a[keep], b[keep], rng.lognormal(size=int(keep.sum())))
        pick = rng.choice(u.size, 20, replace=False)
        dels = UpdateBatch.build(np.full(20, Op.DELETE), u[pick], v[pick])
        out.append(UpdateBatch.concat([ins, dels]))
    return out


@pytest.mark.parametrize("mode", ["default", "dygrass"])
def test_restored_engine_continues_identically(mode: str) -> None:
    u, v, w = _grid(25)
    # a check pending at the snapshot is not saved (keeper.py): compare the rules' state alone
    config = EngineConfig(
        mode=mode, threshold=8.0, walkers=32, max_steps=20, seed=4, kappa_change=0
    )
    first = Engine.from_graph(u, v, w, config=config, graph_id="g")
    batches = _batches(u, v, 2)
    first.apply(batches[0])
    copy = Engine.restore(first.snapshot())
    assert copy.batch_number == first.batch_number == 1
    assert copy.stats() == first.stats()
    for batch in batches[1:]:
        assert delta_lists(copy.apply(batch).delta) == delta_lists(first.apply(batch).delta)
    for a, b in zip(copy.graph_edges(), first.graph_edges(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(copy.sparsifier_edges(), first.sparsifier_edges(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_damaged_snapshots_are_refused() -> None:
    u, v, w = _grid(6)
    data = Engine.from_graph(u, v, w).snapshot()
    with pytest.raises(SnapshotError, match="truncated"):
        Engine.restore(data[:-10])
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    with pytest.raises(SnapshotError, match="checksum"):
        Engine.restore(bytes(flipped))
    with pytest.raises(SnapshotError, match="not a sparsiflow"):
        Engine.restore(b"x" * 100)
    with pytest.raises(SnapshotError, match="too short"):
        Engine.restore(b"")


def test_empty_engine_round_trips() -> None:
    engine = Engine.restore(Engine(EngineConfig(threshold=3.0), graph_id="empty").snapshot())
    assert engine.graph_id == "empty"
    assert engine.config.threshold == 3.0
    assert engine.stats().edges_graph == 0
    report = engine.apply(
        UpdateBatch.inserts(np.array([1, 2]), np.array([2, 3]), np.array([1.0, 2.0]))
    )
    assert report.delta.added_u.size == 2  # a path: H = G (a bulk build, G was empty)


def test_restore_can_take_new_settings() -> None:
    u, v, w = _grid(6)
    data = Engine.from_graph(u, v, w, config=EngineConfig(threshold=8.0)).snapshot()
    assert Engine.restore(data).config.threshold == 8.0
    engine = Engine.restore(data, EngineConfig(threshold=2.0, mode="dygrass"))
    assert engine.config.threshold == 2.0 and engine.config.mode == "dygrass"
    assert engine.stats() == Engine.restore(data).stats()
