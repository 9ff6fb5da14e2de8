"""When and what to checkpoint: a round per input partition every ``every_batches`` published
batches or ``every_seconds`` (if anything was published), writing each graph whose engine moved
on since its last checkpoint and then the partition's log mark (in that order: the mark may only
pass deltas whose graphs have a checkpoint). Rounds are captured on the event loop and written
from the engine thread, so no engine changes while it is serialized."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore, GraphCheckpoint, LogMark
from sparsiflow.connector.stream.graphs import GraphState, ParkedGraph

__all__ = ["CheckpointPolicy", "Checkpointer", "Round"]


@dataclass(frozen=True)
class CheckpointPolicy:
    """A round is due after ``every_batches`` batches or ``every_seconds`` seconds."""

    every_batches: int
    every_seconds: float

    def __post_init__(self) -> None:
        if self.every_batches < 1 or not self.every_seconds > 0:
            raise ValueError("every_batches must be >= 1 and every_seconds > 0")


@dataclass(frozen=True)
class Round:
    """One partition's checkpoint round: the graphs to write and the log mark after them."""

    partition: int
    graphs: tuple[GraphState, ...]
    mark: LogMark


@dataclass
class _Progress:
    batches: int = 0
    since: float = 0.0


@dataclass
class Checkpointer:
    """Schedules and writes checkpoint rounds into ``store``."""

    store: CheckpointStore
    policy: CheckpointPolicy
    input_topic: str
    clock: Callable[[], float] = time.monotonic
    _progress: dict[int, _Progress] = field(default_factory=dict, init=False)

    def start(self, partition: int, replayed: int = 0) -> None:
        """Begin counting for a partition just recovered; the ``replayed`` batches count as
        unsaved (a long replay is saved soon, not replayed again after the next crash)."""
        self._progress[partition] = _Progress(replayed, self.clock())

    def stop(self, partition: int) -> None:
        """Stop counting for a partition no longer held."""
        self._progress.pop(partition, None)

    def note_batch(self, partition: int) -> None:
        """Count a published batch of ``partition``."""
        self._progress.setdefault(partition, _Progress(0, self.clock())).batches += 1

    def due(self, partition: int) -> bool:
        """Whether ``partition`` needs a round now."""
        p = self._progress.get(partition)
        if p is None or p.batches == 0:
            return False
        waited = self.clock() - p.since
        return p.batches >= self.policy.every_batches or waited >= self.policy.every_seconds

    def capture(
        self,
        partition: int,
        graphs: Sequence[GraphState],
        log_end: int,
        parked: Sequence[ParkedGraph] = (),
    ) -> Round:
        """A round of ``partition``: its graphs that moved on since their last checkpoint; the
        mark lists the ``parked`` graphs whose engine is on disk."""
        moved = tuple(s for s in graphs if s.engine.batch_number > max(s.checkpointed, 0))
        saved = tuple(sorted(s.graph for s in graphs if s.engine.batch_number > 0))
        on_disk = tuple(sorted((p.graph, p.batch) for p in parked if p.on_disk))
        self._progress[partition] = _Progress(0, self.clock())
        return Round(partition, moved, LogMark(partition, log_end, saved, on_disk))

    def write(self, round_: Round) -> int:
        """Write a captured round (graphs, then the mark); return the bytes written. Call from
        the engine thread while nothing else runs the engines."""
        size = 0
        for state in round_.graphs:
            ckpt = GraphCheckpoint(
                graph=state.graph,
                input_topic=self.input_topic,
                partition=state.partition,
                batch=state.engine.batch_number,
                covered=state.covered,
                delta_offset=state.delta_offset,
                snapshot=state.engine.snapshot(),
            )
            size += self.store.write_graph(ckpt)
            state.checkpointed = ckpt.batch
        return size + self.store.write_mark(round_.mark)
