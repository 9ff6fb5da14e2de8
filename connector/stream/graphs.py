"""The worker's state per input partition and graph: which graphs it holds, each graph's
engine, open micro-batch, and how far its input is taken into batches and covered by
published deltas.

A graph lives on one input partition (records are keyed by graph id): the partition its id
hashes to under the producers' partitioner (:mod:`.ownership`), the same in every worker, so
its delta log has one writer; its records on any other partition are rejected
(``wrong_partition``) before any state is created. (Without an ownership rule, as in tests,
the first partition a graph is seen on owns it.)

A graph whose delta log was found contradictory in recovery (two contents for one batch) is
*quarantined*: held without an engine, its records rejected (``conflicting_log``) so nothing is
lost and the partition's other graphs go on.

A graph is *resident* (its engine in memory) or *parked*: evicted after going idle (its engine
in a checkpoint on the state volume) or dropped (an empty graph whose batch numbers go on).
``max_graphs`` counts resident graphs; a parked graph's next record reloads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sparsiflow.connector.stream.batcher import BatchPolicy, MicroBatcher
from sparsiflow.connector.stream.ownership import Ownership
from sparsiflow.connector.stream.positions import Position
from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.edge_updates import Decoded
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.engine import Engine

__all__ = ["GraphLimits", "GraphState", "GraphTable", "ParkedGraph", "Pending"]


class Pending(NamedTuple):
    """Accepted input records waiting in their graph's open batch: one record, or a run of
    consecutive single-update records taken in one go, with their updates."""

    records: Sequence[InputRecord]
    decoded: Decoded


@dataclass
class GraphState:
    """One graph held by this worker: its engine, open batch and positions."""

    graph: str
    partition: int
    engine: Engine
    batcher: MicroBatcher[Pending]
    covered: Position = field(default_factory=lambda: Position(0))
    """First input update not covered by a delivered delta."""
    taken: Position = field(default_factory=lambda: Position(0))
    """First input update not yet taken into a batch (records before it are repeats)."""
    delta_offset: int = 0
    """Offset after the graph's last delta in its delta partition (0: none yet)."""
    checkpointed: int = -1
    """Batch number of the graph's last checkpoint (-1: none)."""
    held: list[InputRecord] = field(default_factory=list)
    """Repeated records that no published delta covers yet, acknowledged once one does."""
    busy: int = 0
    """Batches of this graph started and not yet published."""
    active_at: float = 0.0
    """Clock reading of the graph's last record or batch (idle time starts there)."""


@dataclass(frozen=True, slots=True)
class ParkedGraph:
    """A graph held without its engine: ``batch`` batches published, input covered up to
    ``covered``, its deltas up to ``delta_offset``. ``on_disk``: its engine is the checkpoint
    of that batch; otherwise the graph is empty (dropped) and reloads as a new engine."""

    graph: str
    partition: int
    batch: int
    covered: Position
    delta_offset: int
    on_disk: bool

    @classmethod
    def of(cls, state: GraphState, *, on_disk: bool) -> ParkedGraph:
        """``state``'s graph as it is now, parked."""
        return cls(
            state.graph, state.partition, state.engine.batch_number, state.covered,
            state.delta_offset, on_disk,
        )  # fmt: skip


@dataclass(frozen=True)
class GraphLimits:
    """Which graphs a worker accepts: ``allowed`` (empty: any) and at most ``max_graphs``."""

    allowed: frozenset[str] = frozenset()
    max_graphs: int = 1000


@dataclass
class GraphTable:
    """Graphs held by this worker, created on their first accepted record."""

    make_engine: Callable[[str], Engine]
    policy: BatchPolicy
    limits: GraphLimits = field(default_factory=GraphLimits)
    clock: Callable[[], float] = time.monotonic
    ownership: Ownership | None = None
    """Which partition owns each graph (None: the first one it is seen on)."""
    _graphs: dict[str, GraphState] = field(default_factory=dict, init=False)
    _parked: dict[str, ParkedGraph] = field(default_factory=dict, init=False)
    _quarantined: dict[str, tuple[int, str]] = field(default_factory=dict, init=False)

    def route(self, graph: str, partition: int) -> GraphState | ParkedGraph | Rejected:
        """The state of ``graph`` for a record from ``partition`` (a parked graph's record
        reloads it first; a new graph is created), or why it is refused."""
        held = self.find(graph, partition)
        return self._create(graph, partition) if held is None else held

    def find(self, graph: str, partition: int) -> GraphState | ParkedGraph | Rejected | None:
        """``graph`` as held for a record from ``partition`` (None: not held)."""
        resident = self._graphs.get(graph)
        if resident is not None and resident.partition == partition:
            return resident  # the common case: only an owner holds a graph (checked below)
        if self.ownership is not None:
            wrong = self.ownership.wrong_partition(graph, partition)
            if wrong is not None:
                return Rejected(Reason.WRONG_PARTITION, wrong)
        quarantined = self._quarantined.get(graph)
        if quarantined is not None and quarantined[0] == partition:
            return Rejected(Reason.CONFLICTING_LOG, quarantined[1])
        held = self._graphs.get(graph) or self._parked.get(graph)
        if held is not None and held.partition != partition:
            return Rejected(
                Reason.WRONG_PARTITION,
                f"graph {graph!r} is held on input partition {held.partition}, "
                f"not {partition}: key records by graph id",
            )
        return held

    def _create(self, graph: str, partition: int) -> GraphState | Rejected:
        if self.limits.allowed and graph not in self.limits.allowed:
            return Rejected(Reason.UNKNOWN_GRAPH, f"graph {graph!r} is not served here")
        if len(self._graphs) >= self.limits.max_graphs:
            return Rejected(
                Reason.TOO_MANY_GRAPHS, f"this worker already holds {self.limits.max_graphs} graphs"
            )
        state = GraphState(
            graph, partition, self.make_engine(graph), MicroBatcher(self.policy, self.clock),
            active_at=self.clock(),
        )  # fmt: skip
        self._graphs[graph] = state
        return state

    def install(
        self, graph: str, partition: int, engine: Engine, covered: Position, delta_offset: int
    ) -> GraphState:
        """Hold a recovered or reloaded graph (replacing any state of it) and return its state."""
        self._parked.pop(graph, None)
        state = GraphState(
            graph, partition, engine, MicroBatcher(self.policy, self.clock),
            covered=covered, taken=covered, delta_offset=delta_offset, active_at=self.clock(),
        )  # fmt: skip
        self._graphs[graph] = state
        return state

    def park(self, state: GraphState, *, on_disk: bool) -> ParkedGraph:
        """Hold ``state``'s graph without its engine (evicted or dropped)."""
        del self._graphs[state.graph]
        parked = ParkedGraph.of(state, on_disk=on_disk)
        self._parked[state.graph] = parked
        return parked

    def hold_parked(self, parked: ParkedGraph) -> None:
        """Hold a graph recovered as parked."""
        self._graphs.pop(parked.graph, None)
        self._parked[parked.graph] = parked

    def quarantine(self, graph: str, partition: int, why: str) -> None:
        """Hold ``graph`` of ``partition`` without an engine, its records refused: its delta
        log contradicts itself (``why``)."""
        self._graphs.pop(graph, None)
        self._parked.pop(graph, None)
        self._quarantined[graph] = (
            partition,
            f"graph {graph!r} is quarantined: {why}; its records are set aside here until the "
            "deltas topic is repaired (see README, operating rules)",
        )

    @property
    def quarantined(self) -> int:
        """Number of quarantined graphs."""
        return len(self._quarantined)

    def parked_on(self, partition: int) -> list[ParkedGraph]:
        """The parked graphs of ``partition``."""
        return [p for p in self._parked.values() if p.partition == partition]

    @property
    def parked(self) -> int:
        """Number of parked graphs."""
        return len(self._parked)

    def on_partition(self, partition: int) -> list[GraphState]:
        """The graphs held for ``partition``."""
        return [s for s in self._graphs.values() if s.partition == partition]

    def __iter__(self) -> Iterator[GraphState]:
        return iter(list(self._graphs.values()))

    def __len__(self) -> int:
        return len(self._graphs)

    def release(self, partitions: Iterable[int]) -> list[GraphState]:
        """Drop the graphs of ``partitions`` (e.g. when they are revoked), parked ones too;
        return the resident ones."""
        gone = set(partitions)
        released = [s for s in self._graphs.values() if s.partition in gone]
        for state in released:
            del self._graphs[state.graph]
        for parked in [p for p in self._parked.values() if p.partition in gone]:
            del self._parked[parked.graph]
        for graph in [g for g, (p, _) in self._quarantined.items() if p in gone]:
            del self._quarantined[graph]
        return released
