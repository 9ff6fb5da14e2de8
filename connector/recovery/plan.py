"""Recovery of one input partition's graphs, as plain logic: plan from each graph's starting
state (a checkpoint, the state still in memory, or nothing) and the deltas read back from the
log; then replay the planned deltas against the input records they cover.

Planning takes, per graph, the published deltas after its starting batch in batch order; a
repeated (graph, batch) must carry the same content, and a missing batch is an error (the log
or the state volume lost something). A (graph, batch) published with two different contents
is a contradiction of that graph's log only: the graph's plan is marked ``conflict`` (the
worker quarantines it: nothing of it is replayed or published) and the partition's other
graphs go on. Replay re-decodes the covered input records exactly as the
worker did (same key rule, same limits), checks each batch's update count against the delta's
header and lets :meth:`Engine.replay` apply G's updates and H's delta without any walk. A
delta that covers no record (``last_offset = first_offset - 1``: a quiet graph's kappa check
entering) is replayed as a batch without updates where it stands. A tombstone (a record
without value) dropped its graph: it is replayed as the deletion of every edge of G, after
which the engine is cleared, as the worker did. Records the worker rejected are skipped: a
record of a graph without a plan here (a graph of another partition: ``wrong_partition``), and
one that does not decode or whose key is not its graph id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.wire.delta_log import DeltaEntry
from sparsiflow.connector.wire.deltas import DeltaLogError
from sparsiflow.connector.wire.edge_updates import Decoded, DecodeLimits, assemble, decode
from sparsiflow.connector.wire.rejections import Rejected
from sparsiflow.engine.engine import Engine

__all__ = [
    "EMPTY",
    "Base",
    "DeltaGapError",
    "GraphPlan",
    "InputRecordView",
    "input_range",
    "plan_partition",
    "replay_partition",
    "scan_start",
]


class DeltaGapError(DeltaLogError):
    """A graph's deltas skip a batch number after its starting state."""

    def __init__(self, graph: str, expected: int, found: int) -> None:
        super().__init__(
            f"graph {graph!r}: delta of batch {found} where batch {expected} was expected"
        )
        self.graph = graph


@dataclass(frozen=True)
class Base:
    """A graph's starting state for recovery: ``batch`` batches applied, input covered up to
    ``covered``, its deltas read up to ``delta_offset`` of its delta partition."""

    batch: int
    covered: Position
    delta_offset: int


EMPTY = Base(0, Position(0), 0)
"""The state of a graph never seen: an empty engine, nothing covered, nothing read."""


@dataclass
class GraphPlan:
    """What recovery does for one graph: start from ``base``, replay ``replay`` in order."""

    graph: str
    base: Base
    replay: list[DeltaEntry] = field(default_factory=list)
    conflict: str | None = None
    """Why the graph's log contradicts itself (None: it does not); such a plan is not run."""

    @property
    def batch(self) -> int:
        """Batches applied once the plan has run (the next batch number)."""
        return self.base.batch + len(self.replay)

    @property
    def covered(self) -> Position:
        """First input update not covered by a published delta once the plan has run."""
        return self.replay[-1].covered if self.replay else self.base.covered

    @property
    def delta_offset(self) -> int:
        """Offset after the graph's last delta in its delta partition."""
        return self.replay[-1].log_offset + 1 if self.replay else self.base.delta_offset


def scan_start(bases: Mapping[str, Base | None], log_end: int | None) -> int:
    """Where to start reading the delta partition: before every delta of a graph with a base
    (``None``: a graph whose checkpoints were all unreadable) and, with no log mark, at 0."""
    starts = [0 if base is None else base.delta_offset for base in bases.values()]
    return min([log_end or 0, *starts])


def plan_partition(
    partition: int, bases: Mapping[str, Base], entries: Iterable[DeltaEntry]
) -> dict[str, GraphPlan]:
    """Plans for the graphs of ``partition``: those with a base and those first seen among
    ``entries`` (deltas of the delta partition in log order; other partitions' are ignored).
    A graph with two contents for one batch gets a plan with ``conflict`` set (its later
    entries are ignored)."""
    plans = {graph: GraphPlan(graph, base) for graph, base in bases.items()}
    seen: dict[tuple[str, int], tuple[bytes, int]] = {}
    for entry in entries:
        if entry.partition != partition:
            continue
        plan = plans.setdefault(entry.graph, GraphPlan(entry.graph, EMPTY))
        if plan.conflict is not None:
            continue
        key = (entry.graph, entry.batch)
        if entry.batch < plan.batch:
            first = seen.get(key)
            if first is not None and first[0] != entry.content:
                plan.conflict = (
                    f"batch {entry.batch} published twice with different content (log "
                    f"offsets {first[1]} and {entry.log_offset})"
                )
            continue
        if entry.batch > plan.batch:
            raise DeltaGapError(entry.graph, plan.batch, entry.batch)
        if entry.start < plan.covered:
            raise DeltaLogError(
                f"graph {entry.graph!r}: batch {entry.batch} starts at {tuple(entry.start)}, "
                f"before {tuple(plan.covered)} which earlier batches already cover"
            )
        seen[key] = (entry.content, entry.log_offset)
        plan.replay.append(entry)
    return plans


def input_range(plans: Iterable[GraphPlan]) -> tuple[int, int] | None:
    """First and last input offset the plans' deltas cover, or None when nothing to replay."""
    entries = [e for plan in plans for e in plan.replay]
    if not entries:
        return None
    return min(e.first_offset for e in entries), max(e.last_offset for e in entries)


@dataclass(frozen=True, slots=True)
class InputRecordView:
    """An input record as recovery reads it back."""

    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class _Pending:
    plan: GraphPlan
    engine: Engine
    index: int = 0
    parts: list[Decoded] = field(default_factory=list)

    @property
    def entry(self) -> DeltaEntry | None:
        return self.plan.replay[self.index] if self.index < len(self.plan.replay) else None


def replay_partition(
    plans: Mapping[str, GraphPlan],
    engines: Mapping[str, Engine],
    records: Iterable[InputRecordView],
    limits: DecodeLimits,
) -> None:
    """Replay every plan on its engine from the input ``records`` (offset order, covering
    :func:`input_range`); raises DeltaLogError when records or deltas do not fit."""
    pending = {g: _Pending(p, engines[g]) for g, p in plans.items() if p.replay}
    for record in records:
        state = pending.get(record.key.decode(errors="replace")) if record.key else None
        if state is None or state.entry is None or record.offset < state.entry.first_offset:
            continue
        dropped = record.value is None
        if dropped:
            decoded: Decoded | Rejected = Decoded(state.plan.graph, state.engine.removal_batch())
        else:
            decoded = decode(record.value, limits)
        if not isinstance(decoded, Decoded) or decoded.graph.encode() != record.key:
            continue  # the worker rejected it to the DLQ
        while (entry := state.entry) is not None and entry.first_offset <= record.offset:
            if entry.empty:
                _finish(state, entry)
                continue
            part = decoded
            if entry.rows is not None:
                if len(decoded) != entry.rows.total:
                    raise DeltaLogError(
                        f"graph {entry.graph!r} batch {entry.batch}: record {record.offset} has "
                        f"{len(decoded)} updates, the delta says {entry.rows.total}"
                    )
                rows = decoded.updates.slice(entry.rows.start, entry.rows.stop)
                part = Decoded(decoded.graph, batch=rows)
            state.parts.append(part)
            if record.offset < entry.last_offset:
                break
            _finish(state, entry)
            if dropped:
                state.engine.clear()
    for state in pending.values():
        while (tail := state.entry) is not None and tail.empty:
            _finish(state, tail)  # batches without updates after the graph's last record
    unfinished = [s.entry for s in pending.values() if s.entry is not None]
    if unfinished:
        first = unfinished[0]
        raise DeltaLogError(
            f"graph {first.graph!r} batch {first.batch}: input records up to offset "
            f"{first.last_offset} could not be read back (input retention too short?)"
        )


def _finish(state: _Pending, entry: DeltaEntry) -> None:
    batch = assemble(state.parts)
    state.parts = []
    if entry.updates is not None and len(batch) != entry.updates:
        raise DeltaLogError(
            f"graph {entry.graph!r} batch {entry.batch}: {len(batch)} updates read back, the "
            f"delta covers {entry.updates} (were the record limits changed?)"
        )
    if state.engine.batch_number != entry.batch:
        raise DeltaLogError(
            f"graph {entry.graph!r}: engine at batch {state.engine.batch_number}, "
            f"delta is batch {entry.batch}"
        )
    state.engine.replay(batch, entry.delta)
    state.index += 1
