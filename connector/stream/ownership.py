"""Which input partition owns a graph: the partition its key (the graph id) hashes to under
the producers' partitioner, the same answer in every worker, so one graph has one writer.

``murmur2`` is Kafka's default keyed partitioner (Java clients, librdkafka's
``murmur2_random``, ``sparsiflow produce``): ``toPositive(murmur2(key)) % partitions``.
``crc32`` is librdkafka's default (``consistent_random``/``consistent``): the key's CRC-32 mod
partitions. Pure functions, no Kafka client.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["PARTITIONERS", "Ownership", "Partitioner", "key_partition", "murmur2"]

Partitioner = Literal["murmur2", "crc32"]
PARTITIONERS: tuple[Partitioner, ...] = ("murmur2", "crc32")

_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of ``data``, as a signed int like Java's ``Utils.murmur2``."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    full = length - length % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[full + 2] << 16
    if tail >= 2:
        h ^= data[full + 1] << 8
    if tail >= 1:
        h ^= data[full]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def key_partition(key: bytes, partitions: int, partitioner: Partitioner = "murmur2") -> int:
    """The partition ``partitioner`` sends a record keyed ``key`` to among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    if partitioner == "murmur2":
        return (murmur2(key) & 0x7FFFFFFF) % partitions
    if partitioner == "crc32":
        return zlib.crc32(key) % partitions
    raise ValueError(f"unknown partitioner {partitioner!r}: use one of {PARTITIONERS}")


@dataclass(frozen=True, slots=True)
class Ownership:
    """Graph ownership of an input topic with ``partitions`` partitions whose producers use
    ``partitioner``: a graph belongs to the partition its id hashes to."""

    partitions: int
    partitioner: Partitioner = "murmur2"

    def __post_init__(self) -> None:
        key_partition(b"", self.partitions, self.partitioner)  # checks both

    def owner(self, graph: str) -> int:
        """The input partition that owns ``graph``."""
        return key_partition(graph.encode(), self.partitions, self.partitioner)

    def owns(self, graph: str, partition: int) -> bool:
        """Whether ``partition`` owns ``graph``."""
        return self.owner(graph) == partition

    def wrong_partition(self, graph: str, partition: int) -> str | None:
        """Why a record of ``graph`` on ``partition`` is refused (None: it is the owner)."""
        owner = self.owner(graph)
        if owner == partition:
            return None
        return (
            f"graph {graph!r} belongs to input partition {owner} (its key hashes there under "
            f"the {self.partitioner} partitioner over {self.partitions} partitions), not "
            f"{partition}: produce records keyed by graph id with that partitioner and no "
            "explicit partition, or set SPARSIFLOW_PARTITIONER to the producers' partitioner"
        )
