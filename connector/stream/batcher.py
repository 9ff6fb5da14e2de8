"""The micro-batch policy of one graph: close a batch at ``max_size`` updates or ``max_wait``
seconds after its first item, whichever comes first. Pure: the clock is injected, nothing here
knows about Kafka or asyncio, so it is tested by advancing a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["BatchPolicy", "MicroBatcher"]

T = TypeVar("T")


@dataclass(frozen=True)
class BatchPolicy:
    """``max_size``: updates per batch (a record is never split, so a batch may end above it
    by less than one record); ``max_wait``: seconds from a batch's first item to its close."""

    max_size: int
    max_wait: float

    def __post_init__(self) -> None:
        if self.max_size < 1 or not self.max_wait > 0:
            raise ValueError("max_size must be >= 1 and max_wait > 0")


@dataclass
class MicroBatcher(Generic[T]):
    """Items of one graph waiting to form a batch."""

    policy: BatchPolicy
    clock: Callable[[], float] = time.monotonic
    _items: list[T] = field(default_factory=list, init=False)
    _size: int = field(default=0, init=False)
    _deadline: float | None = field(default=None, init=False)

    @property
    def size(self) -> int:
        """Updates held (the sum of the sizes given to :meth:`add`)."""
        return self._size

    @property
    def deadline(self) -> float | None:
        """Clock time at which the open batch is due; None when empty."""
        return self._deadline

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T, size: int = 1) -> list[T] | None:
        """Add an item of ``size`` updates; return the closed batch once it is full."""
        if self._deadline is None:
            self._deadline = self.clock() + self.policy.max_wait
        self._items.append(item)
        self._size += size
        return self.flush() if self._size >= self.policy.max_size else None

    def poll(self) -> list[T] | None:
        """Return the closed batch when its deadline has passed, else None."""
        if self._deadline is not None and self.clock() >= self._deadline:
            return self.flush()
        return None

    def flush(self) -> list[T]:
        """Close the open batch now (e.g. on shutdown) and return its items (maybe none)."""
        items, self._items = self._items, []
        self._size, self._deadline = 0, None
        return items
