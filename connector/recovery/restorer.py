"""Restore the graphs of one input partition: the newest good checkpoint of each graph (or the
state this worker still holds, when newer), then every delta published after it, read back from
the deltas topic and replayed against the input records it covers.

The deltas topic is the truth and the state volume only a shortcut: with no checkpoint at all
the graphs are rebuilt from the whole log, so workers with separate volumes (or none) recover
each other's partitions too. Runs in a worker thread: the log is read with blocking calls.

A graph the log mark lists as parked (evicted from memory) whose newest good checkpoint is the
parked one stays parked unless deltas follow it: none of its deltas lie before that checkpoint's
batch past the mark, so the log is read from the mark for it, however long ago it was parked.

A graph whose log contradicts itself (two contents for one batch), or, with an ownership rule,
whose deltas on this partition were written though the partition does not own it (the input
topic's partition count or the partitioner changed), is returned *quarantined*: without an
engine, nothing of it replayed, so the partition's other graphs go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore
from sparsiflow.connector.recovery.plan import (
    EMPTY,
    Base,
    DeltaGapError,
    GraphPlan,
    InputRecordView,
    input_range,
    plan_partition,
    replay_partition,
    scan_start,
)
from sparsiflow.connector.stream.ownership import Ownership
from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.stream.records import Headers
from sparsiflow.connector.wire.delta_log import DeltaEntry, delta_partition, parse_delta
from sparsiflow.connector.wire.deltas import DeltaLogError
from sparsiflow.connector.wire.edge_updates import DecodeLimits
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.exceptions import EngineError

__all__ = [
    "HeldGraph",
    "LogReader",
    "LogRecord",
    "RecoveredGraph",
    "RecoveredPartition",
    "Restorer",
]

log = logging.getLogger(__name__)


class LogRecord(NamedTuple):
    """A record read back from a topic."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


class LogReader(Protocol):
    """Reads partitions of topics by offset (no consumer group, nothing committed)."""

    def end_offset(self, topic: str, partition: int) -> int:
        """The partition's high watermark: the offset the next record will get."""

    def start_offset(self, topic: str, partition: int) -> int:
        """The partition's log start: records before it are gone (retention, deletion)."""

    def read(self, topic: str, partition: int, start: int, end: int) -> Iterator[LogRecord]:
        """Records with offsets in ``[start, end)``, in order."""

    def close(self) -> None:
        """Release the connection."""


@dataclass(frozen=True)
class HeldGraph:
    """A graph this worker still holds in memory (e.g. across a rebalance)."""

    engine: Engine
    covered: Position
    delta_offset: int


@dataclass(frozen=True)
class RecoveredGraph:
    """A graph ready to go on: its engine (None: parked, its engine in the checkpoint of
    ``checkpointed``) and positions, and the batch of the checkpoint it started from (-1:
    none on the volume). ``quarantined``: why the graph cannot go on (its engine is None
    then, and it is not parked)."""

    graph: str
    engine: Engine | None
    covered: Position
    delta_offset: int
    checkpointed: int
    quarantined: str | None = None


@dataclass(frozen=True)
class RecoveredPartition:
    """The graphs of one input partition, where its delta partition was read to, and the
    deltas replayed (in log order)."""

    partition: int
    graphs: list[RecoveredGraph]
    log_end: int
    deltas: list[DeltaEntry]
    seconds: float


class Restorer:
    """Recovers input partitions from checkpoints and the log."""

    def __init__(
        self,
        *,
        reader: LogReader,
        store: CheckpointStore | None,
        input_topic: str,
        deltas_topic: str,
        delta_partitions: int,
        config: EngineConfig,
        limits: DecodeLimits,
        ownership: Ownership | None = None,
    ) -> None:
        self._reader = reader
        self._ownership = ownership
        self._store = store
        self._input = input_topic
        self._deltas = deltas_topic
        self._delta_partitions = delta_partitions
        self._config = config
        self._limits = limits

    def close(self) -> None:
        """Release the log reader."""
        self._reader.close()

    def recover(
        self, partition: int, held: Mapping[str, HeldGraph], held_log_end: int | None
    ) -> RecoveredPartition:
        """Recover ``partition``; ``held``: its graphs still in memory, read up to
        ``held_log_end``. Raises DeltaLogError (or EngineError) when the log does not fit."""
        started = time.monotonic()
        mark = self._store.log_mark(partition) if self._store else None
        marked = {g: b for g, b in mark.parked if g not in held} if mark else {}
        engines, bases, checkpointed = self._bases(partition, held, marked)
        for graph in mark.graphs if mark else ():
            bases.setdefault(graph, None)  # its checkpoints are gone: read the log from 0
        parked = {g for g, batch in marked.items() if checkpointed.get(g) == batch}
        log_end = max(mark.log_end if mark else 0, held_log_end or 0) or None
        q = delta_partition(partition, self._delta_partitions)
        end = self._reader.end_offset(self._deltas, q)
        start = scan_start({g: b for g, b in bases.items() if g not in parked}, log_end)
        if start > end:
            raise DeltaLogError(
                f"delta partition {self._deltas}[{q}] ends at {end}, before offset {start} that "
                "the saved state has read to: was the deltas topic recreated?"
            )
        known = {g: b or EMPTY for g, b in bases.items()}
        try:
            plans = plan_partition(partition, known, self._entries(q, start, end))
        except DeltaGapError as gap:
            if start == 0:
                raise
            log.warning("%s; reading delta partition %d from its start", gap, q)
            plans = plan_partition(partition, known, self._entries(q, 0, end))
        self._check_owners(partition, plans)
        for graph in parked:
            plan = plans[graph]
            if plan.replay and plan.conflict is None:  # reloaded, then moved on before a crash
                engines[graph] = self.reload(partition, graph, checkpointed[graph])
        quarantined = {g: p for g, p in plans.items() if p.conflict is not None}
        for graph in quarantined:
            del plans[graph]
            engine = engines.pop(graph, None)
            if engine is not None and graph not in held:
                engine.close()
        graphs = self._replay(partition, plans, engines, checkpointed)
        graphs += [
            RecoveredGraph(g, None, p.base.covered, p.base.delta_offset, -1, p.conflict)
            for g, p in sorted(quarantined.items())
        ]
        replayed = sorted((e for p in plans.values() for e in p.replay), key=lambda e: e.log_offset)
        return RecoveredPartition(partition, graphs, end, replayed, time.monotonic() - started)

    def _check_owners(self, partition: int, plans: Mapping[str, GraphPlan]) -> None:
        """Mark the plans of graphs ``partition`` does not own as conflicting."""
        if self._ownership is None:
            return
        for graph, plan in plans.items():
            owner = self._ownership.owner(graph)
            if owner != partition and plan.conflict is None:
                plan.conflict = (
                    f"its deltas were written from input partition {partition}, but its key "
                    f"hashes to partition {owner} ({self._ownership.partitioner} over "
                    f"{self._ownership.partitions} partitions): were the input topic's "
                    "partitions or SPARSIFLOW_PARTITIONER changed?"
                )

    def own_end(self, partition: int, start: int) -> int:
        """How far the positions of ``partition``'s graphs in its delta partition may move from
        ``start`` (the offset after the last delta of theirs this worker knows of): to where
        the committed records end now (past the commit marker of its last transaction), but
        never past a delta of one of those graphs published from there on. Such a delta is
        another writer's: the partition's next owner, while this worker was frozen. A
        checkpoint whose positions passed it would hide it from recovery, and the graph's
        next batch would fork its log."""
        q = delta_partition(partition, self._delta_partitions)
        end = self._reader.end_offset(self._deltas, q)
        if start >= end or start < self._reader.start_offset(self._deltas, q):
            return start  # nothing to pass, or not readable (recovery says why)
        for record in self._reader.read(self._deltas, q, start, end):
            if record.value is not None and self._may_hold(partition, record):
                log.warning(
                    "delta partition %s[%d] holds a delta of input partition %d at offset %d "
                    "that this worker did not publish: another worker took the partition",
                    self._deltas, q, partition, record.offset,
                )  # fmt: skip
                return record.offset
        return end

    def _may_hold(self, partition: int, record: LogRecord) -> bool:
        """Whether a delta record may be one of ``partition``'s graphs' (by its key when graphs
        belong to partitions by key hash, else by the source it names)."""
        if self._ownership is not None:
            graph = (record.key or b"").decode("utf-8", "replace")
            return self._ownership.owns(graph, partition)
        entry = parse_delta(record.value or b"", record.headers, record.offset)
        return entry.partition == partition

    def reload(self, partition: int, graph: str, batch: int) -> Engine:
        """The engine of a parked graph, from its checkpoint of ``batch`` (EngineError when
        that checkpoint is gone or damaged: recovery then starts from an older one)."""
        for ckpt in self._store.graph_checkpoints(partition, graph) if self._store else ():
            if ckpt.batch == batch:
                return Engine.restore(ckpt.snapshot, self._config)
        raise EngineError(f"graph {graph!r}: its checkpoint of batch {batch} is gone")

    def _bases(
        self, partition: int, held: Mapping[str, HeldGraph], parked: Mapping[str, int]
    ) -> tuple[dict[str, Engine], dict[str, Base | None], dict[str, int]]:
        """Per graph the newest starting state: held in memory or the newest checkpoint that
        restores (None when a graph's checkpoints all fail). The engine of a ``parked`` graph
        whose newest good checkpoint is the parked one is not kept (restored to check it)."""
        engines = {g: h.engine for g, h in held.items()}
        bases: dict[str, Base | None] = {
            g: Base(h.engine.batch_number, h.covered, h.delta_offset) for g, h in held.items()
        }
        checkpointed: dict[str, int] = {}
        for graph in self._store.graphs(partition) if self._store else []:
            assert self._store is not None
            for ckpt in self._store.graph_checkpoints(partition, graph):
                current = bases.get(graph)
                if current is not None and current.batch >= ckpt.batch:
                    break
                if ckpt.graph != graph or ckpt.input_topic != self._input:
                    log.warning("checkpoint of %r is for another graph or topic: skipped", graph)
                    continue
                try:
                    engine = Engine.restore(ckpt.snapshot, self._config)
                except EngineError as exc:
                    log.warning("checkpoint %r batch %d unusable: %s", graph, ckpt.batch, exc)
                    continue
                if parked.get(graph) == ckpt.batch:
                    engine.close()
                else:
                    engines[graph] = engine
                bases[graph] = Base(ckpt.batch, ckpt.covered, ckpt.delta_offset)
                checkpointed[graph] = ckpt.batch
                break
            else:
                bases.setdefault(graph, None)
        return engines, bases, checkpointed

    def _entries(self, q: int, start: int, end: int) -> Iterator[DeltaEntry]:
        gone = self._reader.start_offset(self._deltas, q)
        if start < gone:
            raise DeltaLogError(
                f"recovery needs the deltas of {self._deltas}[{q}] from offset {start}, but "
                f"records before {gone} are gone (retention): keep the deltas topic longer than "
                "the checkpoint interval, or restore the state volume with its checkpoints"
            )
        for record in self._reader.read(self._deltas, q, start, end):
            if record.value is not None:
                yield parse_delta(record.value, record.headers, record.offset)

    def _replay(
        self,
        partition: int,
        plans: dict[str, GraphPlan],
        engines: dict[str, Engine],
        checkpointed: dict[str, int],
    ) -> list[RecoveredGraph]:
        active = {g: p for g, p in plans.items() if g in engines or p.replay}
        for graph in active:
            if graph not in engines:
                engines[graph] = Engine(self._config, graph_id=graph)
        span = input_range(active.values())
        if span is not None:
            records = (
                InputRecordView(r.offset, r.key, r.value)
                for r in self._reader.read(self._input, partition, span[0], span[1] + 1)
            )
            try:
                replay_partition(active, engines, records, self._limits)
            except EngineError as exc:
                raise DeltaLogError(f"input partition {partition}: replay failed: {exc}") from exc
        return [
            RecoveredGraph(g, engines.get(g), p.covered, p.delta_offset, checkpointed.get(g, -1))
            for g, p in sorted(plans.items())
            if g in active or g in checkpointed
        ]
