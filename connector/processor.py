"""Stream processing, free of any Kafka client: decode each input record, batch it per graph,
run the graph's engine off the event loop, publish the delta and metrics events, and only then
acknowledge the input records they cover. Rejected records go to the DLQ and are acknowledged
once their dead-letter records are delivered.

The order is the reliability contract (DESIGN.md section 5): outputs are delivered before the
inputs they cover are acknowledged, so a consumer offset never passes an update whose delta is
not in the deltas topic. One batch is processed at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from connector.codec import Decoded, DecodeLimits, assemble, decode
from connector.dlq import dlq_record
from connector.events import Kappa, SourceRange, encode_delta, encode_metrics
from connector.graphs import GraphState, GraphTable, Pending
from connector.metrics import WorkerMetrics
from connector.records import InputRecord, OutputRecord
from connector.rejections import Reason, Rejected
from engine.results import BatchReport
from engine.updates import UpdateBatch

__all__ = ["Ack", "OutputTopics", "Processor", "ProcessorFailedError", "Sink"]


class Sink(Protocol):
    """Where output records go."""

    async def deliver(self, records: Sequence[OutputRecord]) -> None:
        """Send ``records`` in order and return once every one is delivered; raise if not."""


Ack = Callable[[Sequence[object]], Awaitable[None]]
"""Acknowledges input records by their ``InputRecord.handle``."""


class ProcessorFailedError(RuntimeError):
    """A batch could not be processed or delivered; the worker must stop and recover."""


@dataclass(frozen=True)
class OutputTopics:
    deltas: str
    metrics: str
    dlq: str


class Processor:
    """Turns input records into delivered output events and acknowledgements."""

    def __init__(
        self,
        *,
        graphs: GraphTable,
        topics: OutputTopics,
        sink: Sink,
        ack: Ack,
        executor: Executor,
        limits: DecodeLimits | None = None,
        metrics: WorkerMetrics | None = None,
        kappa_every: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.graphs = graphs
        self._topics = topics
        self._sink = sink
        self._ack = ack
        self._executor = executor
        self._limits = limits or DecodeLimits()
        self._metrics = metrics
        self._kappa_every = kappa_every
        self._now = wall_clock
        self._lock = asyncio.Lock()
        self._outbox: list[OutputRecord] = []
        self._handles: list[object] = []
        self._failure: BaseException | None = None

    async def on_record(self, record: InputRecord) -> None:
        """Take one input record: reject it, or add it to its graph's batch (processing the
        batch when it is full)."""
        async with self._lock:
            self._check()
            if self._metrics is not None:
                self._metrics.record_consumed()
            routed = self._route(record)
            if isinstance(routed, Rejected):
                self._reject(record, routed)
                return
            state, decoded = routed
            closed = state.batcher.add(Pending(record, decoded), len(decoded))
            if closed:
                await self._guarded(self._process(state, closed))

    async def on_tick(self) -> None:
        """Process batches whose deadline passed; deliver pending dead-letter records."""
        async with self._lock:
            self._check()
            for state in self.graphs:
                closed = state.batcher.poll()
                if closed:
                    await self._guarded(self._process(state, closed))
            if self._outbox or self._handles:
                await self._guarded(self._deliver())

    async def drain(self) -> None:
        """Process every open batch now and deliver everything pending (graceful stop)."""
        async with self._lock:
            self._check()
            for state in self.graphs:
                closed = state.batcher.flush()
                if closed:
                    await self._guarded(self._process(state, closed))
            await self._guarded(self._deliver())

    def _check(self) -> None:
        if self._failure is not None:
            raise ProcessorFailedError("an earlier batch failed") from self._failure

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:
            self._failure = exc
            raise ProcessorFailedError(f"processing failed: {exc!r}") from exc

    def _route(self, record: InputRecord) -> tuple[GraphState, Decoded] | Rejected:
        decoded = decode(record.value, self._limits)
        if isinstance(decoded, Rejected):
            return decoded
        if record.key != decoded.graph.encode():
            shown = record.key[:80] if record.key is not None else None
            return Rejected(
                Reason.KEY_MISMATCH,
                f"record key {shown!r} is not the graph id {decoded.graph!r}",
            )
        state = self.graphs.route(decoded.graph, record.partition)
        return state if isinstance(state, Rejected) else (state, decoded)

    def _reject(self, record: InputRecord, rejected: Rejected) -> None:
        self._outbox.append(dlq_record(self._topics.dlq, record, rejected, self._now()))
        self._handles.append(record.handle)
        if self._metrics is not None:
            self._metrics.record_rejected(rejected.reason.value)

    async def _process(self, state: GraphState, items: list[Pending]) -> None:
        tracked = self._metrics.track_in_flight() if self._metrics else contextlib.nullcontext()
        with tracked:
            await self._process_batch(state, items)

    async def _process_batch(self, state: GraphState, items: list[Pending]) -> None:
        batch = assemble([p.decoded for p in items])
        loop = asyncio.get_running_loop()
        report, kappa = await loop.run_in_executor(self._executor, self._apply, state, batch)
        first, last = items[0].record, items[-1].record
        oldest = min(p.record.timestamp for p in items)
        now = self._now()
        key = state.graph.encode()
        source = SourceRange(state.partition, first.offset, last.offset)
        self._outbox += [
            OutputRecord(
                self._topics.deltas,
                key,
                encode_delta(state.graph, report.batch, source, report.delta, now),
            ),
            OutputRecord(
                self._topics.metrics,
                key,
                encode_metrics(state.graph, report, now - oldest, kappa, now),
            ),
        ]
        self._handles += [p.record.handle for p in items]
        started = time.perf_counter()
        await self._deliver()
        state.covered_offset = last.offset
        if self._metrics is not None:
            if kappa is not None:
                self._metrics.record_kappa(state.graph, kappa.value)
            self._metrics.record_batch(
                state.graph,
                report,
                updates=len(batch),
                event_to_delta_seconds=self._now() - oldest,
                publish_seconds=time.perf_counter() - started,
            )

    def _apply(self, state: GraphState, batch: UpdateBatch) -> tuple[BatchReport, Kappa | None]:
        """Engine work of one batch (runs in the executor): apply, and every ``kappa_every``
        batches measure kappa."""
        report = state.engine.apply(batch)
        every = self._kappa_every
        kappa = state.kappa.measure(state.engine) if every and report.batch % every == 0 else None
        return report, kappa

    async def _deliver(self) -> None:
        records, handles = self._outbox, self._handles
        self._outbox, self._handles = [], []
        if records:
            await self._sink.deliver(records)
        if handles:
            await self._ack(handles)
