"""The worker's own log lines for operators: a *ready* line when it holds its input partitions,
and a *progress* line every :data:`PROGRESS_SECONDS` while it works (none while idle), with the
counts read from the worker's Prometheus registry.

    progress = ProgressLog(group, topics, lambda: read_totals(registry))
    progress.ready({0, 1})   # once the group assigned these input partitions
    progress.tick()          # often: logs at most once per interval, and only after activity
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Final

from prometheus_client import CollectorRegistry

__all__ = ["PROGRESS_SECONDS", "ProgressLog", "Totals", "read_totals"]

PROGRESS_SECONDS: Final = 30.0
"""Interval of the progress lines."""

log = logging.getLogger("sparsiflow.worker")

_SOURCES: Final = {  # Totals field -> Prometheus sample summed over its labels
    "consumed": "sparsiflow_events_consumed_total",
    "updates": "sparsiflow_updates_applied_total",
    "batches": "sparsiflow_batches_total",
    "rejected": "sparsiflow_events_rejected_total",
    "graphs": "sparsiflow_graphs",
}


@dataclass(frozen=True)
class Totals:
    """Counts since the worker started; ``graphs``: graphs held now (None: not exported)."""

    consumed: int = 0
    updates: int = 0
    batches: int = 0
    rejected: int = 0
    graphs: int | None = None

    def activity(self) -> tuple[int, int, int, int]:
        """The counters that move only when the worker does something."""
        return self.consumed, self.updates, self.batches, self.rejected


def read_totals(registry: CollectorRegistry) -> Totals:
    """The :class:`Totals` of a worker's registry (see ``WorkerMetrics``)."""
    wanted = {sample: field for field, sample in _SOURCES.items()}
    sums: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            field = wanted.get(sample.name)
            if field is not None:
                sums[field] = sums.get(field, 0.0) + sample.value
    graphs = sums.pop("graphs", None)
    counts = {f.name: int(sums.get(f.name, 0)) for f in fields(Totals) if f.name != "graphs"}
    return Totals(**counts, graphs=None if graphs is None else int(graphs))


class ProgressLog:
    """Writes the ready and progress lines of one worker to ``logger`` (INFO).

    ``outputs``: the output topics by role (``deltas``, ``metrics``, ...; empty names left
    out); ``read``: the current :class:`Totals`; ``every``: seconds between progress lines
    (default :data:`PROGRESS_SECONDS`); ``clock``: seconds, monotonic."""

    def __init__(
        self,
        group: str,
        input_topic: str,
        outputs: dict[str, str],
        read: Callable[[], Totals],
        *,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        every = PROGRESS_SECONDS if every is None else every
        if every <= 0:
            raise ValueError(f"the progress interval must be > 0, got {every}")
        self.every = every
        self._group = group
        self._input = input_topic
        self._outputs = ", ".join(f"{role} {name}" for role, name in outputs.items() if name)
        self._read = read
        self._clock = clock
        self._log = logger
        self._since = clock()
        self._last = read()

    def ready(self, partitions: Iterable[int]) -> str:
        """Log (and return) the ready line for the input ``partitions`` now assigned."""
        held = sorted(partitions)
        if held:
            what = f"input {self._input} partitions {', '.join(map(str, held))}"
        else:
            what = f"no partition of input {self._input} assigned (more workers than partitions?)"
        line = f"ready: group {self._group}, {what}; outputs {self._outputs}"
        self._log.info("%s", line)
        return line

    def tick(self) -> str | None:
        """Log (and return) a progress line when an interval has passed since the last one and
        the worker did something meanwhile; else None. Cheap: call it as often as you like."""
        now = self._clock()
        if now - self._since < self.every:
            return None
        totals = self._read()
        if totals.activity() == self._last.activity():
            self._since = now  # idle: the next line covers from here
            return None
        line = self.describe(totals, self._last, now - self._since)
        self._since, self._last = now, totals
        self._log.info("%s", line)
        return line

    @staticmethod
    def describe(now: Totals, before: Totals, seconds: float) -> str:
        """The progress line for the change from ``before`` to ``now`` over ``seconds``."""
        parts = [
            f"{now.consumed - before.consumed} records consumed",
            f"{now.updates - before.updates} updates applied",
            f"{now.batches - before.batches} batches published",
            f"{now.rejected - before.rejected} rejected",
        ]
        held = "" if now.graphs is None else f"; {now.graphs} graph(s) held"
        return (
            f"progress in the last {seconds:.0f} s: {', '.join(parts)}{held} "
            f"(since start: {now.consumed} records, {now.updates} updates, {now.batches} "
            f"batches, {now.rejected} rejected)"
        )
