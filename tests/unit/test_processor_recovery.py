"""Crashes of the processor without a broker: the worker's topics live in memory, a "crash"
throws the processor away (only the topics and the checkpoint folder survive), the committed
offset lags behind the acknowledged one by a random amount, and deliveries fail mid-batch.
Whatever happens, every (graph, batch) is published once, the deltas rebuild the final H and G
holds every update."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson
import pytest
from memlog import INPUT, MemLog, log_processor

from sparsiflow.connector.downstream.client import SparsifierState
from sparsiflow.connector.downstream.materialize import EdgeMap
from sparsiflow.connector.stream.current_h import CurrentH
from sparsiflow.connector.stream.processor import OutputTopics, Processor, ProcessorFailedError
from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.connector.wire.edge_updates import encode_records
from sparsiflow.connector.wire.edges import decode_edge_record
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import power_law
from sparsiflow.workloads.streams import update_stream

TOPICS = OutputTopics("deltas", "metrics", "dlq", 2, CurrentH("edges", 2, 2))


def make(log: MemLog, state: Path | None, max_size: int = 60) -> Processor:
    return log_processor(log, TOPICS, state, max_size=max_size, every_batches=3)


def streams(log: MemLog) -> tuple[list[InputRecord], dict[str, EdgeMap]]:
    """Two graphs' updates as records (every 7th one too big for a batch), interleaved."""
    records: list[InputRecord] = []
    expected: dict[str, EdgeMap] = {}
    rng = random.Random(3)
    per_graph = []
    for p in (0, 1):
        s = update_stream(power_law(400, seed=p), 0.3, 0.1, seed=p)
        updates = UpdateBatch.concat([UpdateBatch.inserts(s.base.u, s.base.v, s.base.w), s.batch()])
        graph = f"g.{p}"
        expected[graph] = EdgeMap()
        expected[graph].apply_updates(updates)
        values, start, k = [], 0, 0
        while start < len(updates):
            size = 150 if k % 7 == 6 else rng.randint(1, 8)
            values.append(next(encode_records(graph, updates.slice(start, start + size)))[0])
            start, k = start + size, k + 1
        per_graph.append([(p, graph.encode(), v) for v in values])
    while any(per_graph):
        queue = rng.choice([q for q in per_graph if q])
        p, key, value = queue.pop(0)
        records.append(log.append_input(INPUT, p, key, value))
    return records, expected


def committed(log: MemLog, lag: int, rng: random.Random) -> dict[int, int]:
    """Per partition a committed offset: the end of the contiguously acknowledged records,
    minus a random lag (commits trail acknowledgements)."""
    acked = set(log.acked)
    out = {}
    for p in (0, 1):
        end = 0
        while (p, end) in acked:
            end += 1
        out[p] = max(0, end - rng.randint(0, lag))
    return out


def check(log: MemLog, proc: Processor, expected: dict[str, EdgeMap]) -> int:
    """Invariants; returns how many deltas were repeats."""
    seen: dict[tuple[str, int], bytes] = {}
    rebuilt: dict[str, EdgeMap] = {}
    repeats = 0
    for p in (0, 1):
        for record in log.topics["deltas"][p]:
            event = decode_delta(record.value)
            key = (event.graph, event.batch)
            if key in seen:
                assert seen[key] == event.content, f"{key} published twice with different content"
                repeats += 1
                continue
            assert event.batch == sum(k[0] == event.graph for k in seen), "a gap"
            seen[key] = event.content
            rebuilt.setdefault(event.graph, EdgeMap()).apply_delta(event.delta)
    for state in proc.graphs:
        engine = state.engine
        g = dict(zip(zip(*(c.tolist() for c in engine.graph_edges()[:2]), strict=True),
                     engine.graph_edges()[2].tolist(), strict=True))  # fmt: skip
        h = dict(zip(zip(*(c.tolist() for c in engine.sparsifier_edges()[:2]), strict=True),
                     engine.sparsifier_edges()[2].tolist(), strict=True))  # fmt: skip
        assert g == expected[state.graph].edges
        assert h == rebuilt[state.graph].edges
        assert engine.batch_number == sum(k[0] == state.graph for k in seen)
        for compacted in (False, True):
            current = current_h(log, state.graph, compacted)
            assert current.sparsifier.edges == h, f"current-H topic (compacted: {compacted})"
            assert current.position is not None
            assert current.position.batch == engine.batch_number - 1
    return repeats


def current_h(log: MemLog, graph: str, compacted: bool) -> SparsifierState:
    """The graph's H read from the current-H topic, as written or as compaction leaves it (the
    last record of each key, in offset order)."""
    state = SparsifierState(graph)
    for records in log.topics["edges"].values():
        last = {r.key: r.offset for r in records}
        for r in records:
            mine = r.key == graph.encode() or (r.key or b"").startswith(f"{graph}/".encode())
            if mine and (not compacted or last[r.key] == r.offset):
                state.add_record(decode_edge_record(r.key, r.value))
    return state


# seeds 3 and 4 make the broker fail between a delta and its current-H records
@pytest.mark.parametrize("with_checkpoints", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_crashes_never_lose_or_contradict_a_delta(
    tmp_path: Path, seed: int, with_checkpoints: bool
) -> None:
    rng = random.Random(seed)
    log = MemLog()
    records, expected = streams(log)
    state = tmp_path / "state" if with_checkpoints else None

    async def run() -> tuple[Processor, int]:
        position = {0: 0, 1: 0}
        crashes = 0
        while True:
            proc = make(log, state)
            await proc.on_assigned({0, 1})
            pending = [r for r in records if r.offset >= position[r.partition]]
            crash_at = rng.randint(1, len(pending) // 3) if crashes < 6 else None
            if crash_at is not None and rng.random() < 0.5:
                log.fail_after = rng.randint(0, 6)  # the broker goes away mid-batch
            try:
                for i, record in enumerate(pending):
                    if i == crash_at:
                        raise ProcessorFailedError("killed")
                    await proc.on_record(record)
                await proc.drain()
                await proc.close()
                return proc, crashes
            except ProcessorFailedError:
                crashes += 1
                log.fail_after = None
                position = committed(log, lag=8, rng=rng)

    proc, crashes = asyncio.run(run())
    assert crashes == 6
    check(log, proc, expected)


def test_a_huge_record_is_split_into_batches_that_name_their_rows() -> None:
    log = MemLog()
    first = UpdateBatch.inserts([100], [101], [1.0])
    updates = UpdateBatch.inserts(list(range(10)), list(range(1, 11)), [1.0] * 10)
    small = log.append_input(INPUT, 0, b"g.0", next(encode_records("g.0", first))[0])
    record = log.append_input(INPUT, 0, b"g.0", next(encode_records("g.0", updates))[0])
    proc = make(log, None, max_size=4)

    async def run() -> None:
        await proc.on_record(small)
        await proc.drain()  # G is not empty: the huge record is split
        await proc.on_record(record)

    asyncio.run(run())
    deltas = log.topics["deltas"][0][1:]
    assert [decode_delta(d.value).batch for d in deltas] == [1, 2, 3]
    assert [dict(d.headers)["sparsiflow.rows"] for d in deltas] == [
        b"0:4/10",
        b"4:8/10",
        b"8:10/10",
    ]
    assert [dict(d.headers)["sparsiflow.updates"] for d in deltas] == [b"4", b"4", b"2"]
    assert log.acked == [small.handle, record.handle]  # each once, with its last part


def test_a_huge_first_record_of_an_empty_graph_is_one_bulk_batch() -> None:
    log = MemLog()
    updates = UpdateBatch.inserts(list(range(10)), list(range(1, 11)), [1.0] * 10)
    record = log.append_input(INPUT, 0, b"g.0", next(encode_records("g.0", updates))[0])
    proc = make(log, None, max_size=4)

    async def run() -> None:
        await proc.on_record(record)

    asyncio.run(run())
    (delta,) = log.topics["deltas"][0]
    assert decode_delta(delta.value).batch == 0
    assert "sparsiflow.rows" not in dict(delta.headers)
    assert dict(delta.headers)["sparsiflow.updates"] == b"10"
    assert decode_delta(delta.value).delta.added_u.size == 10  # a path: H keeps every edge
    assert log.acked == [record.handle]


def test_records_already_covered_are_acknowledged_not_processed() -> None:
    log = MemLog()
    values = [orjson.dumps({"graph": "g.0", "op": "insert", "u": i, "v": i + 1, "w": 1.0})
              for i in range(6)]  # fmt: skip
    records = [log.append_input(INPUT, 0, b"g.0", v) for v in values]
    first = make(log, None, max_size=3)

    async def run() -> None:
        for r in records[:4]:
            await first.on_record(r)  # batch 0 = records 0..2 published, record 3 open
        again = make(log, None, max_size=3)
        log.acked.clear()
        for r in records:  # consumed again from offset 0 after a crash
            await again.on_record(r)
        assert [h[1] for h in log.acked] == [0, 1, 2, 3, 4, 5]

    asyncio.run(run())
    batches = [decode_delta(d.value).batch for d in log.topics["deltas"][0]]
    assert batches == [0, 1]  # batch 0 never published again


def test_recovery_says_which_deltas_retention_took(tmp_path: Path) -> None:
    """Deltas older than the checkpoints may go (retention): a restart recovers from the
    checkpoints; without them, the missing deltas stop recovery with a reason."""
    log = MemLog()
    records, expected = streams(log)
    state = tmp_path / "state"

    async def run(folder: Path | None, batch: list[InputRecord]) -> Processor:
        proc = make(log, folder)
        await proc.on_assigned({0, 1})
        for record in batch:
            await proc.on_record(record)
        await proc.drain()
        await proc.close()
        return proc

    half = len(records) // 2
    asyncio.run(run(state, records[:half]))
    for q in (0, 1):
        log.log_start[("deltas", q)] = log.end_offset("deltas", q)  # every delta so far: gone
    proc = asyncio.run(run(state, records[half:]))
    assert {s.graph for s in proc.graphs} == set(expected)
    for s in proc.graphs:
        edges = zip(*(c.tolist() for c in s.engine.graph_edges()[:2]), strict=True)
        assert dict(zip(edges, s.engine.graph_edges()[2].tolist(), strict=True)) == (
            expected[s.graph].edges
        )
    with pytest.raises(ProcessorFailedError, match=r"records before \d+ are gone \(retention\)"):
        asyncio.run(run(None, records[:1]))


def test_records_of_a_partition_not_assigned_are_refused_not_acknowledged() -> None:
    """Records of a partition the processor does not own (revoked, or assigned but not yet
    known to it) are handed back untouched: not processed, not acknowledged, so the consumer
    reads them again once the assignment reaches the processor."""
    log = MemLog()
    records, _ = streams(log)
    ones = [r for r in records if r.partition == 1][:3]

    async def run() -> tuple[set[int], set[int], Processor]:
        proc = make(log, None)
        await proc.on_assigned({0})
        refused = await proc.on_records(ones)
        await proc.on_assigned({0, 1})
        taken = await proc.on_records(ones)
        await proc.drain()
        return refused, taken, proc

    refused, taken, proc = asyncio.run(run())
    assert refused == {1} and taken == set()
    assert {(1, r.offset) for r in ones} <= set(log.acked)  # acknowledged once taken
    assert [s.graph for s in proc.graphs] == ["g.1"]
