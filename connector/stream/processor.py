"""Stream processing, free of any Kafka client: decode each input record, batch it per graph,
run the graph's engine off the event loop, publish the delta and metrics events, and only then
acknowledge the input records they cover. Rejected records go to the DLQ and are acknowledged
once their dead-letter records are delivered.

The order is the reliability contract (DESIGN.md section 5): a batch's delta is delivered
first, alone, then its metrics event, then the inputs it covers are acknowledged, so a consumer
offset never passes an update whose delta is not in the deltas topic, and a metrics event never
exists for a batch whose delta does not. One batch is processed at a time. With a
:class:`Publisher` (Kafka transactions, the worker's default) the delta, metrics event and
current-H records of a batch are one transaction of the input partition's only writer, opened
before the partition's recovery reads the deltas topic (which fences its earlier writers); the
inputs are acknowledged once it is committed.

Partitions: before the first record of an input partition is processed its graphs are
recovered (checkpoint + deltas topic, :mod:`sparsiflow.connector.recovery.restorer`); records its
graphs' deltas already cover are repeats, acknowledged without processing. A record with more
updates than a batch holds is split into batches of its own, each delta naming its rows, unless
it is an empty graph's first load: then it is one batch (one bulk build).

Quarantine: a graph whose delta log recovery finds contradictory (two contents for one batch)
is held without an engine; nothing more is published for it and its records are dead-lettered
(``conflicting_log``), while the partition's other graphs go on.

Graph lifecycle: a graph idle for ``idle_seconds`` (nothing open, nothing unpublished, no kappa
check waiting) is evicted: checkpointed, then parked without its engine until its next record
reloads it. A tombstone (a record without value, keyed by a graph id) drops its graph: the open
batch is published, then a batch deleting every edge of G (its delta empties H); the graph is
then parked empty, its batch numbers going on, so its delta log never forks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sparsiflow.connector.observability.kappa import KappaFailures
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.recovery.checkpoint_schedule import Checkpointer
from sparsiflow.connector.recovery.restorer import HeldGraph, Restorer
from sparsiflow.connector.stream.current_h import CurrentH
from sparsiflow.connector.stream.flow import FlowControl, FlowGate
from sparsiflow.connector.stream.graphs import GraphState, GraphTable, ParkedGraph, Pending
from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.dead_letters import dlq_record
from sparsiflow.connector.wire.delta_log import RowSpan, delta_headers, delta_partition
from sparsiflow.connector.wire.deltas import SourceRange, encode_delta
from sparsiflow.connector.wire.edge_updates import (
    Decoded,
    DecodeLimits,
    assemble,
    decode,
    decode_run,
    is_graph_id,
)
from sparsiflow.connector.wire.metrics_events import Kappa, encode_metrics
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.results import BatchReport

__all__ = [
    "Ack",
    "OutputTopics",
    "Processor",
    "ProcessorFailedError",
    "Publisher",
    "Sink",
    "WorkerPausedError",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

YIELD_RECORDS = 512
"""Input records taken between two turns of the event loop (one call may take thousands)."""

MIN_RUN = 8
"""Consecutive records of one key taken in one go (:meth:`Processor._add_run`) from this many."""


def _run(records: Sequence[InputRecord], at: int) -> Sequence[InputRecord]:
    """The records from ``at`` on that have its partition and key and a value, at most
    :data:`YIELD_RECORDS` of them (only the one at ``at`` if it has no value)."""
    first = records[at]
    end, stop = at + 1, min(len(records), at + YIELD_RECORDS)
    if first.value is not None:
        key, partition = first.key, first.partition
        while end < stop:
            record = records[end]
            if record.key != key or record.partition != partition or record.value is None:
                break
            end += 1
    return records[at:end]


class Sink(Protocol):
    """Where output records go."""

    async def deliver(self, records: Sequence[OutputRecord]) -> Sequence[int]:
        """Send ``records`` in order and return once every one is delivered (raise if not),
        with the offset each got."""


class Publisher(Protocol):
    """Publishes a batch's outputs atomically, as the only writer of its input partition (Kafka
    transactions: :mod:`sparsiflow.connector.kafka.transactions`)."""

    async def open(self, partition: int) -> None:
        """Become the only writer of ``partition``, fencing earlier ones (before its
        recovery reads the deltas topic)."""

    async def publish(
        self,
        partition: int,
        records: Sequence[OutputRecord],
        more: Callable[[int], Sequence[OutputRecord]] | None = None,
    ) -> int:
        """Publish ``records`` and then ``more(offset of the first)`` all or none; returns the
        first's offset."""

    async def release(self, partition: int) -> None:
        """Stop writing for ``partition``."""

    async def close(self) -> None:
        """Stop writing for every partition."""


Ack = Callable[[Sequence[object]], Awaitable[None]]
"""Acknowledges input records by their ``InputRecord.handle``."""


class ProcessorFailedError(RuntimeError):
    """A batch could not be processed or delivered; the worker must stop and recover."""


class WorkerPausedError(RuntimeError):
    """The worker was paused (frozen) long enough to have lost its group membership, and was
    about to take an input partition on an assignment that may be stale: taking it would fence
    the partition's new owner."""


@dataclass(frozen=True)
class OutputTopics:
    """Output topic names; the deltas topic's partition count picks each graph's partition;
    ``current_h``: the compacted current-H topic, if written; ``dlq_max_bytes``: what the DLQ
    topic accepts (larger dead letters go as envelopes; None: no limit)."""

    deltas: str
    metrics: str
    dlq: str
    delta_partitions: int = 1
    current_h: CurrentH | None = None
    dlq_max_bytes: int | None = None


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
        wall_clock: Callable[[], float] = time.time,
        restorer: Restorer | None = None,
        checkpointer: Checkpointer | None = None,
        flow: tuple[FlowGate, FlowControl] | None = None,
        idle_seconds: float = 0.0,
        publisher: Publisher | None = None,
        pause_limit: float = 0.0,
        pipeline: int = 0,
    ) -> None:
        self.graphs = graphs
        self._publisher = publisher
        self._pause_limit = pause_limit  # 0: no check
        self._beat: float | None = None  # the last pulse() (None: none yet)
        self._paused: float | None = None  # seconds of a pause seen since the last assignment
        self._topics = topics
        self._sink = sink
        self._ack = ack
        self._executor = executor
        self._limits = limits or DecodeLimits()
        self._metrics = metrics
        self._now = wall_clock
        self._restorer = restorer
        self._checkpointer = checkpointer
        self._flow = flow
        self._idle_seconds = idle_seconds if checkpointer is not None else 0.0
        self._lock = asyncio.Lock()
        self._published = asyncio.Condition()  # notified as each started batch is published
        self._pipeline = pipeline
        self._in_flight = 0  # batches started and not yet published
        self._last: asyncio.Task[None] | None = None  # the task publishing the last batch
        self._closing = False
        self._outbox: list[OutputRecord] = []
        self._handles: list[object] = []
        self._failure: BaseException | None = None
        self._log_end: dict[int, int] = {}  # per partition held: offset after its last delta
        self._active: set[int] = set()  # partitions recovered and being processed
        self._assigned: set[int] | None = None  # None until the first assignment is known
        self._kappa_failures = KappaFailures(metrics)

    # --- stream -----------------------------------------------------------------------------
    async def on_record(self, record: InputRecord) -> None:
        """Take one input record (see :meth:`on_records`)."""
        await self.on_records((record,))

    async def on_records(self, records: Sequence[InputRecord]) -> set[int]:
        """Take input records in their partitions' order: reject each bad one, skip repeats,
        add the others to their graphs' batches (starting each batch that fills up). One
        call takes what the consumer fetched, so per-record work stays plain code: no lock,
        task or future per record; backpressure is decided once per call. A run of records
        of one key is taken in one go where it can be (:meth:`_add_run`: decoded and
        checked together; the event loop's CPU per single-update record 12 -> 2.1 us, ``make
        bench-intake``), else record by record, with the same outcome. Returns, once at
        most ``pipeline`` started batches are not yet published (0: all are), the partitions
        whose records it did not take (not its own now: a revoked partition, or one whose
        assignment has not reached it yet), which the consumer must read again or leave."""
        async with self._lock:
            self._check()
            if self._metrics is not None:
                self._metrics.record_consumed(len(records))
            ours: set[int] = set()
            refused: set[int] = set()
            at, since_yield = 0, 0
            while at < len(records):
                record = records[at]
                if record.partition not in ours:
                    if not await self._guarded(self._own(record.partition)):
                        refused.add(record.partition)
                        at += 1
                        continue
                    ours.add(record.partition)
                run = _run(records, at)
                if len(run) < MIN_RUN or not await self._guarded(self._add_run(run)):
                    for one in run:
                        work = self._take(one)
                        if work is not None:
                            await self._guarded(work)
                at += len(run)
                since_yield += len(run)
                if since_yield >= YIELD_RECORDS:
                    since_yield = 0
                    await asyncio.sleep(0)  # heartbeats and pulses go on (lock kept)
            await self._turn(lambda: self._in_flight <= self._pipeline)
            for partition in sorted(ours & self._active):
                self._throttle(partition)
                await self._checkpoint_if_due(partition)
            return refused

    async def on_tick(self) -> None:
        """Recover newly assigned partitions; process batches whose deadline passed; deliver
        pending dead-letter records; write checkpoints that fell due by time."""
        async with self._lock:
            self._check()
            for partition in sorted((self._assigned or set()) - self._active):
                await self._guarded(self._own(partition))
            for state in self.graphs:
                closed = state.batcher.poll()
                if closed:
                    await self._guarded(self._process(state, closed))
                elif self._quiet(state):
                    await self._guarded(self._process(state, []))  # settle: the check enters
            if self._outbox or self._handles:
                await self._guarded(self._deliver())
            await self._guarded(self._evict_idle())
            if self._metrics is not None:
                self._metrics.set_graph_counts(
                    len(self.graphs), self.graphs.parked, self.graphs.quarantined
                )
            await self._turn(lambda: self._in_flight <= self._pipeline)
            for partition in sorted(self._active):
                self._throttle(partition)
                await self._checkpoint_if_due(partition)

    async def drain(self) -> None:
        """Process every open batch now and deliver everything pending (graceful stop)."""
        async with self._lock:
            self._check()
            await self._guarded(self._drain(self.graphs))

    # --- partitions -------------------------------------------------------------------------
    async def on_assigned(self, partitions: Iterable[int]) -> None:
        """The input partitions are now exactly ``partitions``: drop the graphs of others. The
        new ones are recovered by the next tick or record, not here: the group gets no
        heartbeat while an assignment callback runs."""
        async with self._lock:
            self._check()
            self._assigned = set(partitions)
            self._paused = None  # a fresh assignment: the group knows this worker
            gone = {s.partition for s in self.graphs} - self._assigned
            await self._guarded(self._release(gone, drop=True))

    async def on_revoked(self, partitions: Iterable[int]) -> None:
        """``partitions`` are being revoked: publish their open batches, checkpoint them and
        stop processing them (their graphs stay in memory until the next assignment)."""
        async with self._lock:
            self._check()
            revoked = set(partitions)
            self._assigned = (self._assigned or set()) - revoked
            await self._guarded(self._release(revoked, drop=False))

    async def close(self) -> None:
        """Final stop: publish everything open and checkpoint every held partition."""
        async with self._lock:
            self._closing = True  # records handed from now on are not taken
            try:
                if self._failure is None:
                    await self._guarded(self._release(set(self._active), drop=False))
            finally:
                if self._restorer is not None:
                    self._restorer.close()
                if self._publisher is not None:
                    await self._publisher.close()

    def pulse(self) -> None:
        """Called every fraction of a second from the event loop (no lock): notes a pause of
        the loop (the process frozen) longer than ``pause_limit``."""
        now = time.monotonic()
        gap, self._beat = now - (self._beat or now), now  # the worker's start is no pause
        if self._pause_limit and gap > self._pause_limit:
            self._paused = max(gap, self._paused or 0.0)
            log.warning("the worker was paused for %.1f s", gap)

    # --- internals --------------------------------------------------------------------------
    def _check(self) -> None:
        if self._failure is not None:
            failure = self._failure  # named in the message: a crash re-raised loses its cause
            raise ProcessorFailedError(
                f"an earlier batch failed: {type(failure).__name__}: {failure}"
            ) from failure

    async def _guarded(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except Exception as exc:
            self._failure = exc
            raise ProcessorFailedError(f"processing failed: {exc!r}") from exc

    async def _own(self, partition: int) -> bool:
        """Whether records of ``partition`` are ours, recovering its graphs on first use."""
        if self._closing or (self._assigned is not None and partition not in self._assigned):
            return False  # e.g. being revoked: its open batches are being published
        if partition in self._active:
            return True
        self._active.add(partition)
        if self._publisher is not None:
            self._check_pause(partition)
            await self._publisher.open(partition)  # fences the partition's earlier writers
        if self._restorer is None:
            self._log_end.setdefault(partition, 0)
            return True
        states = self.graphs.on_partition(partition)
        held = {s.graph: HeldGraph(s.engine, s.covered, s.delta_offset) for s in states}
        restorer = self._restorer
        done = await asyncio.get_running_loop().run_in_executor(
            self._executor, restorer.recover, partition, held, self._log_end.get(partition)
        )
        checkpointed = {s.graph: s.checkpointed for s in states}
        dropped = [p for p in self.graphs.parked_on(partition) if not p.on_disk]
        self.graphs.release([partition])
        for g in done.graphs:
            if g.quarantined is not None:
                self._quarantine(g.graph, partition, g.quarantined)
                continue
            if g.engine is None:
                self.graphs.hold_parked(
                    ParkedGraph(g.graph, partition, g.checkpointed, g.covered, g.delta_offset, True)
                )
                continue
            state = self.graphs.install(g.graph, partition, g.engine, g.covered, g.delta_offset)
            state.checkpointed = max(g.checkpointed, checkpointed.get(g.graph, -1))
        for parked in dropped:  # held in memory only, and not read back from the log
            if self.graphs.find(parked.graph, partition) is None:
                self.graphs.hold_parked(parked)
        self._log_end[partition] = done.log_end
        if self._topics.current_h is not None:
            replayed = self._topics.current_h.replayed(done.deltas)
            if self._publisher is not None and replayed:  # before the next batch's records
                await self._publisher.publish(partition, replayed)
            else:
                self._outbox += replayed
        if self._checkpointer is not None:
            self._checkpointer.start(partition, len(done.deltas))
        log.warning(
            "recovered input partition %d: %d graph(s), %d batch(es) replayed in %.3fs",
            partition, len(done.graphs), len(done.deltas), done.seconds,
        )  # fmt: skip
        return True

    def _quarantine(self, graph: str, partition: int, why: str) -> None:
        """Stop publishing ``graph``: its later records go to the DLQ (``conflicting_log``)."""
        self.graphs.quarantine(graph, partition, why)
        if self._metrics is not None:
            self._metrics.forget_graph(graph)
            self._metrics.set_graph_counts(
                len(self.graphs), self.graphs.parked, self.graphs.quarantined
            )
        log.error(
            "graph %r of input partition %d quarantined: %s; nothing more is published for it "
            "and its records go to the DLQ (conflicting_log) until its deltas are repaired",
            graph, partition, why,
        )  # fmt: skip

    def _check_pause(self, partition: int) -> None:
        """Refuse to take ``partition`` after a pause long enough for the group to have given
        it to another worker, until the next assignment: taking it on a stale assignment
        would fence that worker."""
        gap = time.monotonic() - (self._beat or time.monotonic())  # a pause pulse() missed
        paused = max(self._paused or 0.0, gap if gap > self._pause_limit else 0.0)
        if self._pause_limit and paused:
            raise WorkerPausedError(
                f"input partition {partition} was not taken: this worker was paused for "
                f"{paused:.1f} s, long enough to lose its group membership, so another worker "
                "may have taken the partition over"
            )

    async def _release(self, partitions: set[int], *, drop: bool) -> None:
        """Publish the open batches of ``partitions``, checkpoint them, stop processing them;
        ``drop``: forget their graphs too."""
        await self._drain([s for s in self.graphs if s.partition in partitions])
        for partition in sorted(partitions & self._active):
            self._active.discard(partition)
            if self._publisher is not None:
                await self._publisher.release(partition)
            if self._checkpointer is not None:
                await self._checkpoint(partition)
                self._checkpointer.stop(partition)
            if self._flow is not None:
                self._flow[0].forget(partition)
        if drop:
            parked = [p.graph for q in partitions for p in self.graphs.parked_on(q)]
            for graph in [s.graph for s in self.graphs.release(partitions)] + parked:
                if self._metrics is not None:
                    self._metrics.forget_graph(graph)
            for partition in partitions:
                self._log_end.pop(partition, None)

    async def _drain(self, states: Iterable[GraphState]) -> None:
        for state in states:
            closed = state.batcher.flush()
            if closed:
                await self._process(state, closed)
        await self._quiesce()
        await self._deliver()

    async def _turn(self, ready: Callable[[], bool]) -> None:
        """Wait, keeping the lock (publishing does not need it), until ``ready()`` as batches
        are published; raise if one failed."""
        self._check()
        async with self._published:
            await self._published.wait_for(lambda: ready() or self._failure is not None)
        self._check()

    async def _quiesce(self) -> None:
        """Wait until every started batch is published (the lock held: none starts)."""
        await self._turn(lambda: self._in_flight == 0)

    async def _checkpoint_if_due(self, partition: int) -> None:
        if self._checkpointer is not None and self._checkpointer.due(partition):
            await self._guarded(self._checkpoint(partition))

    async def _checkpoint(self, partition: int, parking: Sequence[GraphState] = ()) -> None:
        """A checkpoint round of ``partition``; its mark lists the parked graphs and those
        about to be (``parking``)."""
        assert self._checkpointer is not None
        await self._quiesce()  # engines are captured between batches
        if self._publisher is not None and self._restorer is not None:
            await self._past_markers(partition)
        parked = [*self.graphs.parked_on(partition)]
        parked += [ParkedGraph.of(s, on_disk=True) for s in parking]
        round_ = self._checkpointer.capture(
            partition, self.graphs.on_partition(partition), self._log_end.get(partition, 0), parked
        )
        started = time.perf_counter()
        write = self._checkpointer.write
        size = await asyncio.get_running_loop().run_in_executor(self._executor, write, round_)
        if self._metrics is not None:
            self._metrics.record_checkpoint(seconds=time.perf_counter() - started, size_bytes=size)

    async def _past_markers(self, partition: int) -> None:
        """Move ``partition``'s positions in the deltas topic past the commit marker of its
        last transaction, so that a checkpoint never asks recovery for an offset that holds
        only a marker, which retention may delete with the delta before it; never past a delta
        of its graphs that another worker published (:meth:`Restorer.own_end`)."""
        assert self._restorer is not None
        end = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._restorer.own_end, partition, self._log_end.get(partition, 0)
        )
        self._log_end[partition] = max(self._log_end.get(partition, 0), end)
        for state in self.graphs.on_partition(partition):
            state.delta_offset = max(state.delta_offset, end)

    def _throttle(self, partition: int) -> None:
        if self._flow is None:
            return
        gate, control = self._flow
        pending = sum(s.batcher.size for s in self.graphs.on_partition(partition))
        change = gate.update(partition, pending)
        if change == "pause":
            control.pause(partition)
            if self._metrics is not None:
                self._metrics.record_pause()
        elif change == "resume":
            control.resume(partition)

    def _take(self, record: InputRecord) -> Awaitable[None] | None:
        """Reject, skip or add ``record`` here; what must wait (processing a closed batch,
        reloading a parked graph, a tombstone, a split) is returned to be awaited."""
        if record.value is None:
            return self._drop(record)
        routed = self._route(record)
        if isinstance(routed, Rejected):
            self._reject(record, routed)
            return None
        held, decoded = routed
        if isinstance(held, GraphState):
            return self._add(held, record, decoded)
        return self._add_reloaded(held, record, decoded)

    async def _add_run(self, run: Sequence[InputRecord]) -> bool:
        """Take a run of records of one key in one go, when they are single-update records of
        a resident graph, all valid and none a repeat; else do nothing and return False (they
        go one by one). The run is cut where the open batch fills: the batches are those that
        taking them one by one gives."""
        first = run[0]
        graph = (first.key or b"").decode("utf-8", "replace")
        state = self.graphs.find(graph, first.partition) if is_graph_id(graph) else None
        if not isinstance(state, GraphState) or state.taken.rows_left(first.offset, 1):
            return False
        updates = decode_run([r.value for r in run], graph, self._limits)
        if updates is None:
            return False
        state.active_at = self.graphs.clock()
        start, size = 0, self.graphs.policy.max_size
        while start < len(run):
            stop = min(len(run), start + max(1, size - state.batcher.size))
            part = Pending(run[start:stop], Decoded(graph, batch=updates.slice(start, stop)))
            state.taken = Position(run[stop - 1].offset + 1)
            closed = state.batcher.add(part, stop - start)
            if closed:
                await self._process(state, closed)
            start = stop
        return True

    async def _add_reloaded(self, held: ParkedGraph, record: InputRecord, decoded: Decoded) -> None:
        work = self._add(await self._reload(held), record, decoded)
        if work is not None:
            await work

    def _add(
        self, state: GraphState, record: InputRecord, decoded: Decoded
    ) -> Awaitable[None] | None:
        state.active_at = self.graphs.clock()
        rows = len(decoded)
        first = state.taken.rows_left(record.offset, rows)
        if first >= rows:
            self._repeat(state, record)
            return None
        if first > 0 or (rows > self.graphs.policy.max_size and not self._loads(state)):
            return self._split(state, record, decoded, first)
        state.taken = Position(record.offset + 1)
        closed = state.batcher.add(Pending((record,), decoded), rows)
        return self._process(state, closed) if closed else None

    def _route(self, record: InputRecord) -> tuple[GraphState | ParkedGraph, Decoded] | Rejected:
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
        dlq, limit = self._topics.dlq, self._topics.dlq_max_bytes
        self._outbox.append(dlq_record(dlq, record, rejected, self._now(), limit))
        self._handles.append(record.handle)
        if self._metrics is not None:
            self._metrics.record_rejected(rejected.reason.value)

    # --- graph lifecycle ----------------------------------------------------------------------
    async def _reload(self, held: GraphState | ParkedGraph) -> GraphState:
        """The resident state of a graph, reloading it when parked."""
        if isinstance(held, GraphState):
            return held
        if held.on_disk:
            assert self._restorer is not None
            engine = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._restorer.reload, held.partition, held.graph, held.batch
            )
        else:
            engine = self.graphs.make_engine(held.graph)
            engine.batch_number = held.batch
        state = self.graphs.install(
            held.graph, held.partition, engine, held.covered, held.delta_offset
        )
        state.checkpointed = held.batch if held.on_disk else -1
        self._lifecycle("reloaded")
        return state

    async def _drop(self, record: InputRecord) -> None:
        """A tombstone: drop the graph named by its key (nothing to do for a graph not held)."""
        graph = (record.key or b"").decode("utf-8", "replace")
        if record.key is None or not is_graph_id(graph):
            shown = record.key[:80] if record.key is not None else None
            self._reject(
                record,
                Rejected(
                    Reason.BAD_GRAPH_ID,
                    f"a record without value drops the graph named by its key; key {shown!r} "
                    "is not a graph id",
                ),
            )
            return
        held = self.graphs.find(graph, record.partition)
        if held is None:
            log.info("tombstone for graph %r, which is not held: nothing to drop", graph)
            self._handles.append(record.handle)
            return
        if isinstance(held, Rejected):
            self._reject(record, held)
            return
        state = await self._reload(held)
        state.active_at = self.graphs.clock()
        if state.taken.rows_left(record.offset, 1):
            self._repeat(state, record)
            return
        closed = state.batcher.flush()
        if closed:
            await self._process(state, closed)
        await self._quiesce()  # the removal batch lists G as its batches left it
        state.taken = Position(record.offset + 1)
        removal = Decoded(graph, batch=state.engine.removal_batch())
        await self._process(state, [Pending((record,), removal)])
        await self._quiesce()
        state.engine.clear()
        await self._park([state], dropped=True)
        if self._metrics is not None:
            self._metrics.forget_graph(graph)
        log.warning("dropped graph %r at batch %d", graph, state.engine.batch_number)

    async def _evict_idle(self) -> None:
        """Park the graphs idle for ``idle_seconds`` (their checkpoints written first)."""
        if self._idle_seconds <= 0:
            return
        now = self.graphs.clock()
        idle = [s for s in self.graphs if self._evictable(s, now)]
        if idle:
            await self._park(idle, dropped=False)

    def _evictable(self, state: GraphState, now: float) -> bool:
        return (
            now - state.active_at >= self._idle_seconds
            and state.partition in self._active
            and len(state.batcher) == 0
            and not state.held
            and not state.busy
            and state.covered.row == 0
            and not state.engine.checking
            and not state.engine.settle_due
        )

    async def _park(self, states: Sequence[GraphState], *, dropped: bool) -> None:
        """Park ``states``: on disk (a checkpoint round of their partitions lists them) when
        checkpoints are kept; a dropped graph in memory only otherwise."""
        for partition in sorted({s.partition for s in states}):
            parking = [s for s in states if s.partition == partition]
            if self._checkpointer is not None:
                await self._checkpoint(partition, parking)
            for state in parking:
                self.graphs.park(state, on_disk=self._checkpointer is not None)
                state.engine.close()
                self._lifecycle("dropped" if dropped else "evicted")
            if dropped and self._checkpointer is not None:
                store = self._checkpointer.store
                for state in parking:  # a dropped graph keeps only its empty checkpoint
                    await asyncio.get_running_loop().run_in_executor(
                        self._executor, store.keep_only, partition, state.graph, state.checkpointed
                    )

    def _lifecycle(self, event: str) -> None:
        if self._metrics is not None:
            self._metrics.record_graph_event(event)

    def _repeat(self, state: GraphState, record: InputRecord) -> None:
        """A record read again: acknowledge it once what covers it is delivered."""
        if record.offset < state.covered.offset:
            self._handles.append(record.handle)  # a published delta covers it
        else:
            state.held.append(record)  # a batch not yet published covers it

    async def _split(
        self, state: GraphState, record: InputRecord, decoded: Decoded, first: int
    ) -> None:
        """Process rows ``first..`` of a big record as batches of their own."""
        closed = state.batcher.flush()
        if closed:
            await self._process(state, closed)
        rows, size = len(decoded), self.graphs.policy.max_size
        updates = decoded.updates
        for start in range(first, rows, size):
            stop = min(start + size, rows)
            chunk = Pending((record,), Decoded(decoded.graph, batch=updates.slice(start, stop)))
            state.taken = Position.past(record.offset, stop, rows)
            await self._process(state, [chunk], RowSpan(start, stop, rows))

    def _loads(self, state: GraphState) -> bool:
        """Whether a record bigger than a batch is the graph's first load, taken whole (one
        bulk build instead of a bulk build of its first batch, the rest inserted one batch at
        a time): G empty, nothing open or in flight. Its delta stays bounded: H has at most as
        many edges as the record has updates (the contract's cap: 100,000)."""
        return not state.batcher.size and not state.busy and not state.engine.stats().edges_graph

    def _quiet(self, state: GraphState) -> bool:
        """Whether ``state``'s graph has gone quiet and would settle without waiting (a kappa
        check waits to enter, or none has read G as it is): no open batch, its partition
        processed, input covered up to a record boundary."""
        return (
            len(state.batcher) == 0
            and state.partition in self._active
            and state.covered.row == 0
            and state.covered.offset > 0
            and not state.busy
            and state.engine.settle_due
        )

    async def _process(
        self, state: GraphState, items: list[Pending], rows: RowSpan | None = None
    ) -> None:
        """Start a batch: the engine applies batches in the order they start, off the event
        loop; each is published by its own task once the batch started before it is. Publishing
        runs beside the lock's holder, touching only what a batch's publication owns (its
        graph's covered position, delta offset and held repeats, the outbox, taken and swapped
        without an await between)."""
        batch = assemble([p.decoded for p in items])
        loop = asyncio.get_running_loop()
        applied = loop.run_in_executor(self._executor, state.engine.apply, batch)
        state.busy += 1
        self._in_flight += 1
        self._last = asyncio.create_task(
            self._finish(state, items, rows, len(batch), applied, self._last)
        )

    async def _finish(
        self,
        state: GraphState,
        items: list[Pending],
        rows: RowSpan | None,
        updates: int,
        applied: Awaitable[BatchReport],
        previous: asyncio.Task[None] | None,
    ) -> None:
        """Publish a started batch after the one before it; a failure stops the processor."""
        tracked = self._metrics.track_in_flight() if self._metrics else contextlib.nullcontext()
        try:
            with tracked:
                report = await applied
                if previous is not None:
                    await asyncio.wait([previous])
                if self._failure is None:  # not under the lock: its holder may be waiting here
                    await self._publish(state, items, rows, updates, report)
        except Exception as exc:
            if self._failure is None:
                self._failure = exc
            log.error("graph %r: a batch failed", state.graph, exc_info=exc)
        finally:
            state.busy -= 1
            self._in_flight -= 1
            async with self._published:
                self._published.notify_all()

    async def _publish(
        self,
        state: GraphState,
        items: list[Pending],
        rows: RowSpan | None,
        updates: int,
        report: BatchReport,
    ) -> None:
        if self._checkpointer is not None:
            self._checkpointer.note_batch(state.partition)
        kappa = Kappa.of(report.kappa)
        now = self._now()
        if items:
            first, last = items[0].records[0].offset, items[-1].records[-1].offset
            oldest = min(r.timestamp for p in items for r in p.records)
        else:  # a batch without updates (a quiet graph's check entering) covers no record
            first, last, oldest = state.covered.offset, state.covered.offset - 1, now
        key = state.graph.encode()
        source = SourceRange(state.partition, first, last)
        started = time.perf_counter()
        delta = OutputRecord(
            self._topics.deltas,
            key,
            encode_delta(state.graph, report.batch, source, report.delta, now),
            delta_headers(updates, rows),
            delta_partition(state.partition, self._topics.delta_partitions),
        )
        metrics = OutputRecord(
            self._topics.metrics, key, encode_metrics(state.graph, report, now - oldest, kappa, now)
        )
        current_h = self._topics.current_h

        def current(offset: int) -> list[OutputRecord]:  # current-H records name the offset
            assert current_h is not None
            return current_h.records(
                state.graph, state.partition, report.batch, report.delta, offset
            )

        if self._publisher is not None:  # one transaction: delta, metrics, current-H
            more = current if current_h is not None else None
            offset = await self._publisher.publish(state.partition, [delta, metrics], more)
        else:
            (offset,) = await self._sink.deliver([delta])
            self._outbox += [metrics, *(current(offset) if current_h is not None else [])]
        state.delta_offset = offset + 1
        self._log_end[state.partition] = max(self._log_end.get(state.partition, 0), offset + 1)
        state.covered = Position.past(last, rows.stop, rows.total) if rows else Position(last + 1)
        if rows is None or rows.stop == rows.total:
            self._handles += [r.handle for p in items for r in p.records]
        if state.held:
            self._handles += [r.handle for r in state.held if r.offset < state.covered.offset]
            state.held = [r for r in state.held if r.offset >= state.covered.offset]
        await self._deliver()
        if kappa is not None and kappa.unavailable is not None:
            self._kappa_failures.record(state.graph, kappa)
        if self._metrics is not None:
            if kappa is not None and kappa.value is not None:
                self._metrics.record_kappa(state.graph, kappa.value, before=kappa.before)
            self._metrics.record_batch(
                state.graph,
                report,
                updates=updates,
                event_to_delta_seconds=self._now() - oldest,
                publish_seconds=time.perf_counter() - started,
            )

    async def _deliver(self) -> None:
        records, handles = self._outbox, self._handles
        self._outbox, self._handles = [], []
        if records:
            await self._sink.deliver(records)
        if handles:
            await self._ack(handles)
