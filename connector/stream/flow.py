"""Backpressure per input partition: pause fetching a partition while too many of its updates
wait in open batches, resume once they are down to a low-water mark. Pure: the worker applies
the decisions to its consumer through :class:`FlowControl`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["FlowControl", "FlowGate"]


class FlowControl(Protocol):
    """Stops and restarts fetching from an input partition."""

    def pause(self, partition: int) -> None:
        """Stop fetching ``partition`` (records already fetched still arrive)."""

    def resume(self, partition: int) -> None:
        """Fetch ``partition`` again."""


@dataclass
class FlowGate:
    """Hysteresis on pending updates: pause at ``high``, resume at ``low`` or below."""

    high: int
    low: int
    _paused: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high:
            raise ValueError(f"need 0 <= low < high, got low={self.low}, high={self.high}")

    @property
    def paused(self) -> frozenset[int]:
        return frozenset(self._paused)

    def update(self, partition: int, pending: int) -> Literal["pause", "resume"] | None:
        """The change for ``partition`` now holding ``pending`` updates, if any."""
        if partition not in self._paused and pending >= self.high:
            self._paused.add(partition)
            return "pause"
        if partition in self._paused and pending <= self.low:
            self._paused.discard(partition)
            return "resume"
        return None

    def forget(self, partition: int) -> None:
        """Drop the state of a partition no longer held (its consumer state was reset)."""
        self._paused.discard(partition)
