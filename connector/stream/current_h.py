"""The records a published batch adds to the compacted current-H topic, placed like the graph's
deltas (input partition p -> partition ``p % partitions``), so one graph's records stay in one
partition in batch order. Written after the batch's delta; recovery writes them again for the
deltas it replays (compaction makes the repeat harmless), so a crash between a delta and its
records leaves nothing missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sparsiflow.connector.stream.records import OutputRecord
from sparsiflow.connector.wire.delta_log import DeltaEntry, delta_partition
from sparsiflow.connector.wire.edges import edge_records
from sparsiflow.engine.results import Delta

__all__ = ["CurrentH"]


@dataclass(frozen=True)
class CurrentH:
    """The topic (``partitions`` of them) and the deltas topic's partition count."""

    topic: str
    partitions: int
    delta_partitions: int

    def records(
        self, graph: str, input_partition: int, batch: int, delta: Delta, delta_offset: int
    ) -> list[OutputRecord]:
        """Records of batch ``batch`` of ``graph``, whose delta is at ``delta_offset``."""
        at = delta_partition(input_partition, self.partitions)
        q = delta_partition(input_partition, self.delta_partitions)
        return [
            OutputRecord(self.topic, key, value, [], at)
            for key, value in edge_records(graph, batch, delta, q, delta_offset)
        ]

    def replayed(self, entries: Iterable[DeltaEntry]) -> list[OutputRecord]:
        """Records of deltas read back from the log (recovery), in their order."""
        return [
            record
            for e in entries
            for record in self.records(e.graph, e.partition, e.batch, e.delta, e.log_offset)
        ]
