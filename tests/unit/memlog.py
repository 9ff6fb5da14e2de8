"""An in-memory stand-in for the topics a worker writes and reads back, for unit tests of the
processor and recovery without a broker: it is the processor's :class:`Sink` (records appended
per topic and partition, offsets returned) and the restorer's :class:`LogReader`;
:class:`MemPublisher` publishes on it as Kafka transactions do (commit markers, fencing);
:func:`log_processor` builds a processor on it."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sparsiflow.connector.kafka.transactions import PartitionTakenOverError
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.recovery.checkpoint_schedule import Checkpointer, CheckpointPolicy
from sparsiflow.connector.recovery.checkpoint_store import CheckpointStore
from sparsiflow.connector.recovery.restorer import LogRecord, Restorer
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.graphs import GraphLimits, GraphTable
from sparsiflow.connector.stream.ownership import Ownership
from sparsiflow.connector.stream.processor import OutputTopics, Processor, Publisher
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.edge_updates import DecodeLimits
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine

INPUT = "in"
CONFIG = EngineConfig()
Records = Sequence[OutputRecord]
More = Callable[[int], Records] | None


class MemLog:
    """Topics as lists of records per partition."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[int, list[LogRecord]]] = defaultdict(lambda: defaultdict(list))
        self.acked: list[object] = []
        self.fail_after: int | None = None  # deliveries left before the "broker" fails
        self.log_start: dict[tuple[str, int], int] = {}  # records before it are gone (retention)
        self.epochs: dict[int, int] = defaultdict(int)  # per input partition: its writer's epoch

    # --- the processor's sink and acknowledgements -----------------------------------------
    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        offsets = []
        for r in records:
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise ConnectionError("broker gone")
                self.fail_after -= 1
            log = self.topics[r.topic][r.partition or 0]
            log.append(LogRecord(len(log), r.key, r.value, list(r.headers)))
            offsets.append(len(log) - 1)
        return offsets

    async def ack(self, handles: Sequence[object]) -> None:
        self.acked += handles

    # --- the restorer's reader ----------------------------------------------------------------
    def end_offset(self, topic: str, partition: int) -> int:
        return len(self.topics[topic][partition])

    def start_offset(self, topic: str, partition: int) -> int:
        return self.log_start.get((topic, partition), 0)

    def read(self, topic: str, partition: int, start: int, end: int) -> Iterator[LogRecord]:
        assert start >= self.start_offset(topic, partition), "read below the log start"
        yield from self.topics[topic][partition][start:end]

    def close(self) -> None:
        pass

    # --- input ------------------------------------------------------------------------------
    def append_input(
        self, topic: str, partition: int, key: bytes, value: bytes | None
    ) -> InputRecord:
        """Append an input record and return it as the processor receives it."""
        log = self.topics[topic][partition]
        offset = len(log)
        log.append(LogRecord(offset, key, value, []))
        return InputRecord(topic, partition, offset, 0.0, key, value, handle=(partition, offset))

    def input_records(self, topic: str, partition: int, start: int = 0) -> list[InputRecord]:
        """The input records of a partition from ``start``, as consumed again after a crash."""
        return [
            InputRecord(
                topic, partition, r.offset, 0.0, r.key, r.value, handle=(partition, r.offset)
            )
            for r in self.topics[topic][partition][start:]
        ]


class MemPublisher:
    """A worker's transactional publisher on a :class:`MemLog`: a publish appends its records,
    then a commit marker (a record without key or value: Kafka's takes an offset too) to each
    partition it wrote; ``open`` fences the partition's earlier publishers, whose publishes
    then raise as a fenced Kafka producer's do."""

    def __init__(self, log: MemLog) -> None:
        self._log = log
        self._epochs: dict[int, int] = {}

    async def open(self, partition: int) -> None:
        self._log.epochs[partition] += 1
        self._epochs[partition] = self._log.epochs[partition]

    async def publish(self, partition: int, records: Records, more: More = None) -> int:
        if self._epochs.get(partition) != self._log.epochs[partition]:
            raise PartitionTakenOverError(INPUT, partition, "fenced by a newer producer")
        first = (await self._log.deliver(records))[0]
        extra = list(more(first)) if more is not None else []
        await self._log.deliver(extra)
        for topic, p in {(r.topic, r.partition or 0) for r in [*records, *extra]}:
            log = self._log.topics[topic][p]
            log.append(LogRecord(len(log), None, None, []))
        return first

    async def release(self, partition: int) -> None:
        self._epochs.pop(partition, None)

    async def close(self) -> None:
        self._epochs.clear()


def log_processor(
    log: MemLog,
    topics: OutputTopics,
    state: Path | None,
    *,
    max_size: int,
    every_batches: int,
    clock: Callable[[], float] = time.monotonic,
    max_graphs: int = 1000,
    idle_seconds: float = 0.0,
    metrics: WorkerMetrics | None = None,
    ownership: Ownership | None = None,
    publisher: Publisher | None = None,
) -> Processor:
    """A processor writing to and recovering from ``log`` (input topic ``in``), with
    checkpoints under ``state`` (None: none) every ``every_batches`` batches; ``ownership``:
    which partition owns each graph (None: the first one it is seen on); ``publisher``: where
    batches are published (None: on ``log`` as the sink, without transactions)."""
    store = CheckpointStore(state, keep=2) if state else None
    return Processor(
        graphs=GraphTable(
            lambda g: Engine(CONFIG, graph_id=g), BatchPolicy(max_size, 3600.0),
            GraphLimits(max_graphs=max_graphs), clock, ownership,
        ),
        topics=topics,
        sink=log,
        ack=log.ack,
        executor=ThreadPoolExecutor(1),
        restorer=Restorer(
            reader=log, store=store, input_topic=INPUT, deltas_topic=topics.deltas,
            delta_partitions=topics.delta_partitions, config=CONFIG, limits=DecodeLimits(),
            ownership=ownership,
        ),
        checkpointer=None if store is None else Checkpointer(
            store, CheckpointPolicy(every_batches, 3600.0), INPUT, clock
        ),
        idle_seconds=idle_seconds,
        metrics=metrics,
        publisher=publisher,
    )  # fmt: skip
