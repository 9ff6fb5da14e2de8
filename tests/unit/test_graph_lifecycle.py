"""Graph lifecycle without a broker: idle graphs are evicted to the state folder and reloaded by
their next record, also after a restart; a tombstone drops a graph with a delta that empties H,
and its batch numbers go on. Crashes at any record keep every graph's delta log linear."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from memlog import INPUT, MemLog, log_processor

from sparsiflow.connector.downstream.client import EdgeMap
from sparsiflow.connector.stream.graphs import GraphState
from sparsiflow.connector.stream.processor import OutputTopics, Processor, ProcessorFailedError
from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import UpdateBatch

TOPICS = OutputTopics("deltas", "metrics", "dlq", 1)
IDLE = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(log: MemLog, state: Path | None, clock: Clock, max_graphs: int = 1000) -> Processor:
    return log_processor(
        log, TOPICS, state, max_size=4, every_batches=1000, clock=clock, max_graphs=max_graphs,
        idle_seconds=IDLE,
    )  # fmt: skip


def insert(graph: str, u: int, v: int, w: float = 1.0) -> bytes:
    return orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": w})


def path_records(log: MemLog, graph: str, start: int, count: int) -> list[InputRecord]:
    """``count`` records inserting a path (and a chord every third edge) from node ``start``."""
    out = []
    for i in range(start, start + count):
        out.append(log.append_input(INPUT, 0, graph.encode(), insert(graph, i, i + 1)))
        if i % 3 == 2:
            out.append(log.append_input(INPUT, 0, graph.encode(), insert(graph, i - 2, i + 1)))
    return out


def deltas_of(log: MemLog, graph: str) -> list[tuple[int, bytes]]:
    events = [decode_delta(r.value) for r in log.topics["deltas"][0]]
    return [(e.batch, e.content) for e in events if e.graph == graph]


def linear_log(log: MemLog, graph: str) -> EdgeMap:
    """The graph's deltas are numbered 0, 1, ... (repeats identical); returns their H."""
    seen: dict[int, bytes] = {}
    h = EdgeMap()
    for record in log.topics["deltas"][0]:
        event = decode_delta(record.value)
        if event.graph != graph:
            continue
        if event.batch in seen:
            assert seen[event.batch] == event.content, f"batch {event.batch} forked"
            continue
        assert event.batch == len(seen), f"gap before batch {event.batch}"
        seen[event.batch] = event.content
        h.apply_delta(event.delta)
    return h


def edges(engine: Engine, only_h: bool = False) -> dict[tuple[int, int], float]:
    u, v, w = engine.sparsifier_edges() if only_h else engine.graph_edges()
    return dict(zip(zip(u.tolist(), v.tolist(), strict=True), w.tolist(), strict=True))


def resident(proc: Processor, graph: str) -> GraphState | None:
    return next((s for s in proc.graphs if s.graph == graph), None)


async def evict(proc: Processor, parked: int) -> None:
    """Tick until ``parked`` graphs are parked: a graph is evicted only once its background
    kappa check has entered (a settle batch), which takes a thread's time."""
    for _ in range(500):
        await proc.on_tick()
        if proc.graphs.parked >= parked:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{proc.graphs.parked} graphs parked, {parked} expected")


async def feed(proc: Processor, records: list[InputRecord]) -> None:
    for record in records:
        await proc.on_record(record)


def test_an_idle_graph_is_evicted_and_its_next_record_reloads_it(tmp_path: Path) -> None:
    log, clock = MemLog(), Clock()
    proc = make(log, tmp_path, clock)

    async def run() -> None:
        await proc.on_assigned({0})
        await feed(proc, path_records(log, "a", 0, 12) + path_records(log, "b", 0, 6))
        await proc.on_tick()
        before = resident(proc, "a")
        assert before is not None
        g_before, h_before = edges(before.engine), edges(before.engine, only_h=True)
        clock.now += IDLE / 2
        await feed(proc, path_records(log, "b", 6, 1))
        clock.now += IDLE / 2 + 1
        await evict(proc, 1)  # "a" idle for IDLE + 1 s: evicted; "b" for IDLE / 2 + 1 s: kept
        assert {s.graph for s in proc.graphs} == {"b"} and proc.graphs.parked == 1
        batches = len(deltas_of(log, "a"))
        await feed(proc, path_records(log, "a", 12, 1))
        await proc.drain()
        again = resident(proc, "a")
        assert again is not None
        assert edges(again.engine) == {**g_before, (12, 13): 1.0}
        assert (
            h_before.items() <= edges(again.engine, only_h=True).items() | {(12, 13): 1.0}.items()
        )
        assert [b for b, _ in deltas_of(log, "a")][batches:] == [batches]  # numbers go on
        assert edges(again.engine, only_h=True) == linear_log(log, "a").edges

    asyncio.run(run())


def test_parked_graphs_stay_parked_across_a_restart(tmp_path: Path) -> None:
    log, clock = MemLog(), Clock()
    graphs = [f"g{i}" for i in range(12)]

    async def run() -> None:
        first = make(log, tmp_path, clock)
        await first.on_assigned({0})
        for graph in graphs:
            await feed(first, path_records(log, graph, 0, 5))
        await first.drain()
        clock.now += IDLE + 1
        await evict(first, len(graphs))
        assert len(first.graphs) == 0 and first.graphs.parked == len(graphs)
        log.topics["deltas"][0]  # the deltas stay; the restart reads from the mark on
        log.log_start[("deltas", 0)] = log.end_offset("deltas", 0)  # older deltas: gone
        second = make(log, tmp_path, clock, max_graphs=2)
        await second.on_assigned({0})
        await second.on_tick()
        assert len(second.graphs) == 0 and second.graphs.parked == len(graphs)
        await feed(second, path_records(log, "g3", 5, 3))
        await second.drain()
        state = resident(second, "g3")
        assert state is not None and len(second.graphs) == 1
        assert set(edges(state.engine)) >= {(0, 1), (5, 6), (7, 8)}
        numbers = [b for b, _ in deltas_of(log, "g3")]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

    asyncio.run(run())


def test_max_graphs_counts_resident_graphs_only(tmp_path: Path) -> None:
    log, clock = MemLog(), Clock()
    proc = make(log, tmp_path, clock, max_graphs=3)

    async def run() -> None:
        await proc.on_assigned({0})
        for i in range(3):
            await feed(proc, path_records(log, f"g{i}", 0, 4))
        await feed(proc, path_records(log, "late", 0, 1))
        await proc.on_tick()  # delivers the dead letter
        assert b"too_many_graphs" in dict(log.topics["dlq"][0][-1].headers).get(
            "sparsiflow.reason", b""
        )
        await proc.drain()
        clock.now += IDLE + 1
        await evict(proc, 3)
        await feed(proc, path_records(log, "late", 0, 1))
        assert resident(proc, "late") is not None

    asyncio.run(run())


@pytest.mark.parametrize("with_checkpoints", [True, False])
def test_a_tombstone_empties_h_and_the_graph_goes_on_from_its_next_batch(
    tmp_path: Path, with_checkpoints: bool
) -> None:
    log, clock = MemLog(), Clock()
    proc = make(log, tmp_path if with_checkpoints else None, clock)

    async def run() -> None:
        await proc.on_assigned({0})
        await feed(proc, path_records(log, "a", 0, 9) + path_records(log, "b", 0, 3))
        drop = log.append_input(INPUT, 0, b"a", None)
        await proc.on_record(drop)
        assert resident(proc, "a") is None and linear_log(log, "a").edges == {}
        assert drop.handle in log.acked
        batches = len(deltas_of(log, "a"))
        await feed(proc, path_records(log, "a", 100, 1))
        await proc.drain()
        state = resident(proc, "a")
        assert state is not None
        assert edges(state.engine) == {(100, 101): 1.0}
        assert [b for b, _ in deltas_of(log, "a")][batches:] == [batches]
        assert edges(state.engine, only_h=True) == linear_log(log, "a").edges
        other = resident(proc, "b")
        assert other is not None and len(edges(other.engine)) == 4

    asyncio.run(run())


def test_a_tombstone_without_a_graph_id_key_goes_to_the_dlq() -> None:
    log, clock = MemLog(), Clock()
    proc = make(log, None, clock)

    async def run() -> None:
        await proc.on_assigned({0})
        await proc.on_record(log.append_input(INPUT, 0, b"no/such id", None))
        unknown = log.append_input(INPUT, 0, b"never-seen", None)
        await proc.on_record(unknown)
        await proc.on_tick()
        assert unknown.handle in log.acked and not log.topics["deltas"][0]

    asyncio.run(run())
    (dead,) = log.topics["dlq"][0]
    assert dict(dead.headers)["sparsiflow.reason"] == b"bad_graph_id"


@pytest.mark.parametrize("with_checkpoints", [True, False])
@pytest.mark.parametrize("crash_at", [3, 9, 10, 11, 14])
def test_a_crash_around_drops_and_evictions_keeps_each_log_linear(
    tmp_path: Path, with_checkpoints: bool, crash_at: int
) -> None:
    """g: 6 records, evicted, 3 more, a tombstone, 4 more; a crash before record ``crash_at``;
    the restart consumes from the last acknowledged record."""
    log, clock = MemLog(), Clock()
    state = tmp_path if with_checkpoints else None
    records = path_records(log, "g", 0, 5)  # 6 records: 5 path edges and a chord
    tail = path_records(log, "g", 5, 2)
    tail.append(log.append_input(INPUT, 0, b"g", None))
    after = path_records(log, "g", 50, 3)
    records += tail + after
    expected = EdgeMap()
    for record in after:
        assert record.value is not None
        event = orjson.loads(record.value)
        expected.apply_updates(UpdateBatch.inserts([event["u"]], [event["v"]], [event["w"]]))

    async def run() -> Processor:
        proc = make(log, state, clock)
        await proc.on_assigned({0})
        try:
            for i, record in enumerate(records):
                if i == crash_at:
                    raise ProcessorFailedError("killed")
                await proc.on_record(record)
                if i == 5:
                    await proc.drain()
                    clock.now += IDLE + 1
                    await (evict(proc, 1) if state else proc.on_tick())  # no folder: kept
        except ProcessorFailedError:
            acked = {h[1] for h in log.acked if isinstance(h, tuple)}
            start = next(i for i in range(len(records) + 1) if i not in acked)
            proc = make(log, state, clock)
            await proc.on_assigned({0})
            await feed(proc, log.input_records(INPUT, 0, start))
        await proc.drain()
        return proc

    proc = asyncio.run(run())
    final = resident(proc, "g")
    assert final is not None
    assert edges(final.engine) == expected.edges
    assert edges(final.engine, only_h=True) == linear_log(log, "g").edges
