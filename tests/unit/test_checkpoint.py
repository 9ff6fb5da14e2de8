"""Checkpoint files: written atomically, read back exactly, damaged ones skipped for the next
older, the newest K kept; and the schedule that decides when a partition's round is due."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparsiflow.connector.recovery.checkpoint_schedule import Checkpointer, CheckpointPolicy
from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore, GraphCheckpoint, LogMark
from sparsiflow.connector.stream.batcher import BatchPolicy, MicroBatcher
from sparsiflow.connector.stream.graphs import GraphState
from sparsiflow.connector.stream.positions import Position
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import UpdateBatch


def ckpt(batch: int, snapshot: bytes = b"snap", graph: str = "g1") -> GraphCheckpoint:
    return GraphCheckpoint(graph, "in", 2, batch, Position(10 * batch, 3), 7 * batch, snapshot)


def test_round_trip_and_newest_first(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck", keep=3)
    sizes = [store.write_graph(ckpt(b, bytes([b]) * 100)) for b in (1, 2, 3, 4)]
    assert all(size > 100 for size in sizes)
    assert store.graphs(2) == ["g1"] and store.graphs(0) == []
    found = list(store.graph_checkpoints(2, "g1"))
    assert [c.batch for c in found] == [4, 3, 2]  # keep=3 pruned batch 1
    assert found[0] == ckpt(4, bytes([4]) * 100)
    assert not list((tmp_path / "ck").rglob("*.tmp"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn write
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # flipped bit in the digest
        lambda data: data[:30] + bytes([data[30] ^ 0x10]) + data[31:],  # flipped bit inside
        lambda data: b"",
        lambda data: b"NOTACKPT" + data[8:],
    ],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(
    tmp_path: Path, damage: object
) -> None:
    store = CheckpointStore(tmp_path, keep=2)
    store.write_graph(ckpt(1))
    store.write_graph(ckpt(2))
    newest = sorted(tmp_path.rglob("*.ckpt"))[-1]
    newest.write_bytes(damage(newest.read_bytes()))  # type: ignore[operator]
    assert [c.batch for c in store.graph_checkpoints(2, "g1")] == [1]


def test_log_marks_newest_readable(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=2)
    assert store.log_mark(5) is None
    for end in (3, 9, 12):
        store.write_mark(LogMark(5, end, ("a", "b")[: 1 + end // 10]))
    assert store.log_mark(5) == LogMark(5, 12, ("a", "b"))
    assert len(list(tmp_path.rglob("*.mark"))) == 2
    newest = sorted(tmp_path.rglob("*.mark"))[-1]
    newest.write_bytes(newest.read_bytes()[:-3])
    assert store.log_mark(5) == LogMark(5, 9, ("a",))


def state(graph: str, batches: int) -> GraphState:
    engine = Engine(graph_id=graph)
    for i in range(batches):
        engine.apply(UpdateBatch.inserts(np.array([i]), np.array([i + 1]), np.array([1.0])))
    s = GraphState(graph, 0, engine, MicroBatcher(BatchPolicy(10, 1.0)))
    s.covered, s.delta_offset = Position(batches), batches
    return s


def test_rounds_are_due_by_batches_or_time_and_write_moved_graphs_then_the_mark(
    tmp_path: Path,
) -> None:
    now = [0.0]
    store = CheckpointStore(tmp_path)
    ckp = Checkpointer(store, CheckpointPolicy(3, 10.0), "in", clock=lambda: now[0])
    ckp.start(0)
    assert not ckp.due(0)
    now[0] = 50.0
    assert not ckp.due(0)  # nothing published: nothing to save
    ckp.note_batch(0)
    assert ckp.due(0)  # by time
    a, b, idle = state("a", 2), state("b", 1), state("c", 0)
    round_ = ckp.capture(0, [a, b, idle], log_end=42)
    assert [s.graph for s in round_.graphs] == ["a", "b"] and not ckp.due(0)
    assert ckp.write(round_) > 0
    assert (a.checkpointed, b.checkpointed) == (2, 1)
    assert store.graphs(0) == ["a", "b"] and store.log_mark(0) == LogMark(0, 42, ("a", "b"))
    restored = Engine.restore(next(store.graph_checkpoints(0, "a")).snapshot)
    assert restored.stats() == a.engine.stats()
    for _ in range(3):
        ckp.note_batch(0)
    assert ckp.due(0)  # by batches
    assert ckp.capture(0, [a, b], log_end=42).graphs == ()  # nothing moved since
    ckp.start(1, replayed=3)
    assert ckp.due(1)  # a long replay is saved soon
