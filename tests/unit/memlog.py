"""An in-memory stand-in for the topics a worker writes and reads back, for unit tests of the
processor and recovery without a broker: it is the processor's :class:`Sink` (records appended
per topic and partition, offsets returned) and the restorer's :class:`LogReader`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from sparsiflow.connector.recovery.restorer import LogRecord
from sparsiflow.connector.stream.records import InputRecord, OutputRecord


class MemLog:
    """Topics as lists of records per partition."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[int, list[LogRecord]]] = defaultdict(lambda: defaultdict(list))
        self.acked: list[object] = []
        self.fail_after: int | None = None  # deliveries left before the "broker" fails
        self.log_start: dict[tuple[str, int], int] = {}  # records before it are gone (retention)

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
    def append_input(self, topic: str, partition: int, key: bytes, value: bytes) -> InputRecord:
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
