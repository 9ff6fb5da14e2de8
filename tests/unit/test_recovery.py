"""Recovery as plain logic: planning from starting states and the delta log (repeats, gaps,
conflicts, split records), and the restorer end to end on an in-memory log written by the real
processor (log only, checkpoints, damaged checkpoints, state still in memory)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import pytest
from memlog import MemLog

from sparsiflow.connector.recovery.checkpoint_schedule import Checkpointer, CheckpointPolicy
from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore
from sparsiflow.connector.recovery.plan import (
    EMPTY,
    Base,
    DeltaGapError,
    input_range,
    plan_partition,
    scan_start,
)
from sparsiflow.connector.recovery.restorer import HeldGraph, Restorer
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.graphs import GraphTable
from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.stream.processor import OutputTopics, Processor
from sparsiflow.connector.wire.delta_log import (
    DeltaEntry,
    RowSpan,
    delta_headers,
    delta_partition,
    parse_delta,
)
from sparsiflow.connector.wire.deltas import DeltaLogError
from sparsiflow.connector.wire.edge_updates import DecodeLimits, encode_records
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.engine.results import Delta

INPUT = "in"


def entry(
    graph: str, batch: int, first: int, last: int, *, rows: RowSpan | None = None,
    partition: int = 0, content: bytes = b"c", log_offset: int = 0,
) -> DeltaEntry:  # fmt: skip
    return DeltaEntry(
        graph, batch, partition, first, last, rows, None, Delta(), content, log_offset
    )


def test_positions_and_delta_headers_round_trip() -> None:
    assert Position(5, 2).rows_left(4, 10) == 10 and Position(5, 2).rows_left(5, 10) == 2
    assert Position(5, 2).rows_left(6, 10) == 0
    assert Position.past(5, 10, 10) == Position(6) and Position.past(5, 4, 10) == Position(5, 4)
    value = orjson.dumps(
        {"graph": "g", "batch": 3, "source": {"partition": 1, "first_offset": 9, "last_offset": 9},
         "added": [[1, 2, 0.5]], "removed": [[3, 4]], "reweighted": [], "produced_at": 1.0}
    )  # fmt: skip
    parsed = parse_delta(value, delta_headers(4, RowSpan(4, 8, 10)), 77)
    assert (parsed.graph, parsed.batch, parsed.partition, parsed.log_offset) == ("g", 3, 1, 77)
    assert parsed.start == Position(9, 4) and parsed.covered == Position(9, 8)
    assert parsed.updates == 4 and parsed.delta.added_w.tolist() == [0.5]
    assert parsed.delta.removed_u.tolist() == [3]
    with pytest.raises(DeltaLogError, match="unreadable"):
        parse_delta(b'{"graph": "g"}', [], 5)
    assert delta_partition(7, 3) == 1


def test_plan_takes_the_deltas_after_each_base_and_finds_new_graphs() -> None:
    bases = {"a": Base(2, Position(20), 5)}
    entries = [
        entry("a", 1, 10, 19, content=b"old"),  # before the base: ignored
        entry("a", 2, 21, 30),
        entry("x", 0, 22, 22, partition=1),  # another input partition sharing the log
        entry("b", 0, 23, 23, rows=RowSpan(0, 5, 8), log_offset=8),
        entry("a", 2, 21, 30),  # an identical repeat
        entry("b", 1, 23, 23, rows=RowSpan(5, 8, 8), log_offset=9),
    ]
    plans = plan_partition(0, bases, entries)
    assert set(plans) == {"a", "b"}
    assert plans["a"].batch == 3 and plans["a"].covered == Position(31)
    assert plans["b"].batch == 2 and plans["b"].covered == Position(24)
    assert plans["b"].delta_offset == 10 and plans["b"].replay[0].covered == Position(23, 5)
    assert input_range(plans.values()) == (21, 30)
    assert scan_start({"a": bases["a"]}, log_end=9) == 5
    assert scan_start({"a": bases["a"], "z": None}, log_end=9) == 0
    assert scan_start({}, log_end=None) == 0


@pytest.mark.parametrize(
    ("entries", "error", "match"),
    [
        ([entry("a", 1, 1, 2)], DeltaGapError, "batch 1 where batch 0"),
        ([entry("a", 0, 5, 6), entry("a", 1, 4, 7)], DeltaLogError, "before"),
    ],
)
def test_plan_refuses_a_log_it_cannot_trust(
    entries: list[DeltaEntry], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        plan_partition(0, {"a": EMPTY}, entries)


def test_plan_marks_a_graph_whose_batch_has_two_contents_and_keeps_the_others() -> None:
    entries = [
        entry("a", 0, 1, 2, log_offset=0),
        entry("b", 0, 3, 3, log_offset=1),
        entry("a", 0, 1, 2, content=b"other", log_offset=2),
        entry("a", 1, 4, 4, log_offset=3),  # after the contradiction: ignored
        entry("b", 1, 5, 5, log_offset=4),
    ]
    plans = plan_partition(0, {"a": EMPTY}, entries)
    assert plans["a"].conflict == (
        "batch 0 published twice with different content (log offsets 0 and 2)"
    )
    assert plans["a"].batch == 1  # nothing after the contradiction is planned
    assert plans["b"].conflict is None and plans["b"].batch == 2


# --- the restorer on a log the real processor wrote ---------------------------------------


def updates(k: int, start: int = 0) -> UpdateBatch:
    """A path's edges ``start .. start + k`` plus a few chords, deterministic."""
    u = np.arange(start, start + k)
    chords = UpdateBatch.inserts(u[::3], (u[::3] + 2), np.full(len(u[::3]), 0.5))
    path = UpdateBatch.inserts(u, u + 1, np.linspace(1.0, 2.0, k))
    return UpdateBatch.concat([path, chords])


def run(log: MemLog, state: Path | None, records: list[int], max_size: int = 20) -> Processor:
    """Process input records (indexes into partition 0) and publish what is open."""
    store = CheckpointStore(state) if state else None
    proc = Processor(
        graphs=GraphTable(lambda g: Engine(graph_id=g), BatchPolicy(max_size, 3600.0)),
        topics=OutputTopics("deltas", "metrics", "dlq"),
        sink=log, ack=log.ack, executor=ThreadPoolExecutor(1),
        restorer=restorer(log, state),
        checkpointer=None if store is None else Checkpointer(
            store, CheckpointPolicy(2, 3600.0), INPUT
        ),
    )  # fmt: skip
    inputs = log.input_records(INPUT, 0)

    async def go() -> None:
        for i in records:
            await proc.on_record(inputs[i])
        await proc.drain()

    asyncio.run(go())
    return proc


def restorer(log: MemLog, state: Path | None) -> Restorer:
    return Restorer(
        reader=log, store=CheckpointStore(state) if state else None, input_topic=INPUT,
        deltas_topic="deltas", delta_partitions=1, config=EngineConfig(), limits=DecodeLimits(),
    )  # fmt: skip


def fill(log: MemLog, records: int = 12) -> None:
    for i in range(records):
        for graph in ("a", "b"):
            size = 45 if i == 5 else 7  # record 5 is split in three (max_size 20)
            value, _ = next(encode_records(graph, updates(size, 1000 * i)))
            log.append_input(INPUT, 0, graph.encode(), value)


def same(engine: Engine, other: Engine) -> bool:
    pairs = zip(engine.graph_edges(), other.graph_edges(), strict=True)
    h_pairs = zip(engine.sparsifier_edges(), other.sparsifier_edges(), strict=True)
    return all(np.array_equal(x, y) for x, y in [*pairs, *h_pairs])


@pytest.mark.parametrize("with_checkpoints", [False, True])
def test_restorer_rebuilds_every_graph_exactly(tmp_path: Path, with_checkpoints: bool) -> None:
    log = MemLog()
    fill(log)
    state = tmp_path if with_checkpoints else None
    live = run(log, state, list(range(len(log.topics[INPUT][0]))))
    done = restorer(log, state).recover(0, {}, None)
    assert {g.graph for g in done.graphs} == {"a", "b"}
    assert done.log_end == len(log.topics["deltas"][0])
    for g in done.graphs:
        original = next(s for s in live.graphs if s.graph == g.graph)
        assert g.engine.batch_number == original.engine.batch_number
        assert (g.covered, g.delta_offset) == (original.covered, original.delta_offset)
        assert same(g.engine, original.engine)
        assert (g.checkpointed >= 0) == with_checkpoints
    if with_checkpoints:
        assert len(done.deltas) < sum(g.engine.batch_number for g in done.graphs)


def test_restorer_skips_a_damaged_checkpoint_and_prefers_newer_state_in_memory(
    tmp_path: Path,
) -> None:
    log = MemLog()
    fill(log)
    live = run(log, tmp_path, list(range(len(log.topics[INPUT][0]))))
    for graph in ("a", "b"):
        newest = sorted((tmp_path / "p0" / graph).glob("*.ckpt"))[-1]
        newest.write_bytes(newest.read_bytes()[:100])
    done = restorer(log, tmp_path).recover(0, {}, None)
    for g in done.graphs:
        assert same(g.engine, next(s.engine for s in live.graphs if s.graph == g.graph))
    held = {s.graph: HeldGraph(s.engine, s.covered, s.delta_offset) for s in live.graphs}
    again = restorer(log, tmp_path).recover(0, held, done.log_end)
    assert again.deltas == []
    assert {g.graph: g.engine for g in again.graphs} == {g: h.engine for g, h in held.items()}


def test_restorer_refuses_a_log_shorter_than_its_state(tmp_path: Path) -> None:
    log = MemLog()
    fill(log)
    run(log, tmp_path, list(range(len(log.topics[INPUT][0]))))
    log.topics["deltas"][0] = log.topics["deltas"][0][:2]  # the deltas topic was recreated
    with pytest.raises(DeltaLogError, match="recreated"):
        restorer(log, tmp_path).recover(0, {}, None)


def test_restorer_reads_the_whole_log_when_a_checkpoint_went_missing(tmp_path: Path) -> None:
    log = MemLog()
    fill(log)
    live = run(log, tmp_path, list(range(len(log.topics[INPUT][0]))))
    for path in (tmp_path / "p0" / "a").iterdir():
        path.unlink()  # graph a lost its files; the log mark says they exist
    (tmp_path / "p0" / "a").rmdir()
    done = restorer(log, tmp_path).recover(0, {}, None)
    rebuilt = {g.graph: g.engine for g in done.graphs}
    for s in live.graphs:
        assert same(rebuilt[s.graph], s.engine)


def test_restorer_notices_input_that_does_not_match_the_deltas() -> None:
    log = MemLog()
    fill(log, records=3)
    run(log, None, [0, 1, 2, 3, 4, 5])
    headers = log.topics["deltas"][0][0].headers
    log.topics["deltas"][0][0] = log.topics["deltas"][0][0]._replace(
        headers=[(k, b"999" if k == "sparsiflow.updates" else v) for k, v in headers]
    )
    with pytest.raises(DeltaLogError, match="999"):
        restorer(log, None).recover(0, {}, None)


@pytest.mark.parametrize("with_checkpoints", [False, True])
def test_restorer_replays_batches_without_updates(tmp_path: Path, with_checkpoints: bool) -> None:
    """Quiet graphs settle with deltas that cover no record, in the middle of the log and at
    its end: recovery replays them where they stand."""
    log = MemLog()
    fill(log)
    state = tmp_path if with_checkpoints else None
    config = EngineConfig(target_kappa=1.2, threshold=1000.0, kappa_change=1e-9)
    store = CheckpointStore(state) if state else None
    proc = Processor(
        graphs=GraphTable(lambda g: Engine(config, graph_id=g), BatchPolicy(20, 3600.0)),
        topics=OutputTopics("deltas", "metrics", "dlq"),
        sink=log, ack=log.ack, executor=ThreadPoolExecutor(1), restorer=restorer(log, state),
        checkpointer=None if store is None else Checkpointer(
            store, CheckpointPolicy(2, 3600.0), INPUT
        ),
    )  # fmt: skip
    inputs = log.input_records(INPUT, 0)

    async def settle() -> None:
        for _ in range(500):
            if all(s.engine.settle_due for s in proc.graphs):
                break
            await asyncio.sleep(0.01)
        await proc.on_tick()

    async def go() -> None:
        for i, record in enumerate(inputs):
            await proc.on_record(record)
            if i in (9, len(inputs) - 1):
                await proc.drain()
                await settle()

    asyncio.run(go())
    entries = [parse_delta(r.value or b"", r.headers, r.offset) for r in log.topics["deltas"][0]]
    empty = [e for e in entries if e.empty]
    assert len(empty) == 4 and any(e.delta.recovered_u.size for e in empty)
    done = restorer(log, state).recover(0, {}, None)
    for g in done.graphs:
        original = next(s for s in proc.graphs if s.graph == g.graph)
        assert g.engine.batch_number == original.engine.batch_number
        assert (g.covered, g.delta_offset) == (original.covered, original.delta_offset)
        assert same(g.engine, original.engine)
