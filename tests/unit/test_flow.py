"""Backpressure: the gate's hysteresis, and the processor pausing a partition whose open
batches hold too many updates until their deadline publishes them."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from memlog import MemLog

from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.flow import FlowGate
from sparsiflow.connector.stream.graphs import GraphTable
from sparsiflow.connector.stream.processor import OutputTopics, Processor
from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.engine.engine import Engine


def test_gate_pauses_at_high_and_resumes_at_low() -> None:
    gate = FlowGate(high=10, low=4)
    assert [gate.update(0, n) for n in (3, 10, 12, 5, 4, 9)] == [
        None, "pause", None, None, "resume", None,
    ]  # fmt: skip
    assert gate.update(1, 11) == "pause" and gate.paused == {1}
    gate.forget(1)
    assert gate.paused == frozenset()
    with pytest.raises(ValueError, match="low"):
        FlowGate(high=4, low=4)


class Control:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def pause(self, partition: int) -> None:
        self.calls.append(("pause", partition))

    def resume(self, partition: int) -> None:
        self.calls.append(("resume", partition))


def test_processor_pauses_a_partition_with_too_much_open_work() -> None:
    now = [0.0]
    log, control = MemLog(), Control()
    policy = BatchPolicy(100, 1.0)
    proc = Processor(
        graphs=GraphTable(lambda g: Engine(graph_id=g), policy, clock=lambda: now[0]),
        topics=OutputTopics("deltas", "metrics", "dlq"),
        sink=log, ack=log.ack, executor=ThreadPoolExecutor(1),
        flow=(FlowGate(high=6, low=2), control),
    )  # fmt: skip

    def record(offset: int, graph: str) -> InputRecord:
        value = orjson.dumps(
            {"graph": graph, "op": "insert", "u": offset, "v": offset + 1, "w": 1.0}
        )
        return InputRecord("in", 0, offset, 0.0, graph.encode(), value, handle=offset)

    async def run() -> None:
        for i in range(6):  # six graphs, one open update each: no batch is full
            await proc.on_record(record(i, f"g{i}"))
        assert control.calls == [("pause", 0)]
        await proc.on_tick()
        assert control.calls == [("pause", 0)]  # nothing published yet
        now[0] = 1.0
        await proc.on_tick()  # deadlines close every batch

    asyncio.run(run())
    assert control.calls == [("pause", 0), ("resume", 0)]
    assert sorted(log.acked) == list(range(6))  # type: ignore[type-var]
