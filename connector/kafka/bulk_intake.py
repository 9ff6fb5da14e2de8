"""Bulk intake for the worker's Faust app: the records fetched for an input partition reach the
processor as one list, and their acknowledgements become commit offsets in bulk.

Faust turns each fetched record into an event (a message object, a future awaiting the
conductor's callback, a queue hop to the agent's task): about 77 us per record on the 2-core
development machine, which capped intake near 13,000 records/s whatever the engine could take.
:class:`BulkConsumer` subclasses the Faust consumer of the aiokafka driver and replaces only two
steps: how fetched records reach the application (``_drain_messages``) and how acknowledged
offsets become the offset to commit (``_new_offset``). Faust still owns the app, the consumer
group, assignments, rebalances, pausing, the fetch loop's start and stop and when commits happen.

Why this is safe:

- *Commit order.* A partition's commit offset is the offset after the longest run of records
  handed to the application that are all acknowledged, and the application acknowledges a
  record only once the outputs covering it are delivered: no offset passes an update whose
  delta is not in the deltas topic. Offsets may have gaps (transaction markers); only offsets
  of handed records count.
- *Rebalances.* Faust stops the flow, then waits for every handed record to be acknowledged
  (:meth:`BulkConsumer.wait_empty` counts ours) before the revocation callback runs. Records
  fetched but not handed (the flow stopped, or the generation changed, while a fetch was
  handed) are dropped and every partition is sought back to its committed offset at once, as
  Faust's own ``getmany`` does: fetching moved past them, and the assignment's own seek may
  already have happened (a fetch returned between it and the flow's resumption), so waiting
  for it could skip them for good. A partition's state is dropped with its revocation.
- *Refusals.* The handler may refuse a partition's records (the application does not own it
  at that moment: an assignment whose callback has not reached it yet); they are taken back
  (not counted as handed) and fetched again after the same seek.
- *Pauses.* Records fetched before a partition is paused are all handed (Faust's own loop would
  drop the rest of a fetch once its partition is paused, leaving a gap that its commit
  bookkeeping then counts as done); pausing only stops further fetches.
- *Cancellation.* Faust cancels and restarts the fetch loop on a rebalance; a handed list is
  processed under :func:`asyncio.shield`, so a cancellation never stops it half-way.
- *Crashes.* Nothing is committed past unacknowledged records, so a restarted worker reads
  them again (the processor's recovery skips what published deltas cover).

The internals relied on are those of :data:`FAUST_VERSION` (pinned in the lock files);
``tests/unit/test_bulk_intake.py`` fails if they change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.futures import notify

__all__ = [
    "FAUST_VERSION",
    "REFUSED_PAUSE",
    "SEEK_TIMEOUT",
    "BulkConsumer",
    "BulkHandler",
    "install",
]

log = logging.getLogger(__name__)
_service_log = logging.getLogger("faust.sparsiflow.bulk_intake")
"""The Faust services' own logger (their "Starting..." lines), under ``faust``: quiet by default
like Faust's (``observability.logs``)."""

FAUST_VERSION = "0.15.3"
"""The faust-streaming release whose consumer internals this module was written against."""

FETCH_MAX_WAIT_MS = 20
"""How long the broker may hold a fetch request waiting for data. aiokafka sends one fetch at a
time per broker, for the partitions whose fetched records are all consumed; Faust asks for 1500
ms, so while a partition is being caught up, a fetch for the worker's idle partitions stalled
it for 1.5 s after each fetch (measured: 8,192 records, then 1.2-1.7 s of nothing)."""

SEEK_TIMEOUT = 30.0
"""Seconds a seek back to the committed offsets may take before the worker stops."""

REFUSED_PAUSE = 0.05
"""Seconds to wait before fetching refused records again (their partition's assignment is
still on its way to the application)."""

BulkHandler = Callable[[TP, Sequence[Any]], Awaitable[bool]]
"""Takes the records fetched for one partition, in offset order (aiokafka ``ConsumerRecord``s),
and returns whether it took them (False: not its partition at the moment; they are fetched
again); acknowledges taken ones later with :meth:`BulkConsumer.ack_offsets` and raises nothing
(failures are its own to report)."""


class _Handed:
    """Offsets of one partition handed to the application and not yet committed past."""

    __slots__ = ("acked", "commit", "last", "offsets")

    def __init__(self) -> None:
        self.offsets: deque[int] = deque()  # handed, in order, not yet passed by ``commit``
        self.acked: set[int] = set()  # acknowledged among ``offsets``
        self.last = -1  # the last offset handed
        self.commit: int | None = None  # the offset to commit (None: nothing passed yet)

    def fresh(self, records: Sequence[Any]) -> Sequence[Any]:
        """``records`` after the last handed one (a fetch never repeats one unless Faust seeks
        back, and then the handed ones are in flight already)."""
        if records and records[0].offset <= self.last:
            records = [r for r in records if r.offset > self.last]
        return records

    def hand(self, records: Sequence[Any]) -> None:
        self.offsets.extend(r.offset for r in records)
        self.last = records[-1].offset

    def take_back(self, records: Sequence[Any]) -> None:
        """``records`` (the last handed) were refused: hand them again when fetched again."""
        refused = {r.offset for r in records}
        self.offsets = deque(o for o in self.offsets if o not in refused)
        self.acked -= refused
        self.last = min(self.last, records[0].offset - 1)

    def advance(self) -> int | None:
        """The commit offset after dropping the acknowledged run at the front."""
        offsets, acked = self.offsets, self.acked
        while offsets and offsets[0] in acked:
            passed = offsets.popleft()
            acked.discard(passed)
            self.commit = passed + 1
        return self.commit


class _BulkConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, with :data:`FETCH_MAX_WAIT_MS` (Faust fixes 1500)."""

    logger = _service_log

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by its start()
        return consumer


class BulkConsumer(faust_aiokafka.Consumer):
    """The aiokafka driver's consumer with bulk delivery of one topic (see the module)."""

    logger = _service_log
    transport: _BulkTransport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed: dict[int, _Handed] = {}
        self.bulk_topic = self.transport.bulk_topic

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _BulkConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack_offsets(self, handles: Iterable[tuple[int, int]]) -> None:
        """Acknowledge handed records by ``(partition, offset)``."""
        handed = self._handed
        for partition, offset in handles:
            state = handed.get(partition)
            if state is not None and state.offsets and state.offsets[0] <= offset <= state.last:
                state.acked.add(offset)
        notify(self._waiting_for_ack)  # wakes wait_empty

    @property
    def handed_pending(self) -> int:
        """Records handed and not yet committed past (acknowledged or not)."""
        return sum(len(s.offsets) for s in self._handed.values())

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, delivering each partition's records as one list."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, _ = await self._wait_next_records(1.0)
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                generation = self.app.consumer_generation_id
                for tp, fetched in records.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        await self._fetch_again()
                        break  # a rebalance began: the rest is fetched again
                    await self._hand(tp, fetched)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _hand(self, tp: TP, fetched: Sequence[Any]) -> None:
        if tp.topic != self.bulk_topic:
            raise RuntimeError(f"records of {tp} reached a consumer that only reads bulk topics")
        state = self._handed.get(tp.partition)
        if state is None:
            state = self._handed[tp.partition] = _Handed()
        records = state.fresh(fetched)
        if not records:
            return
        state.hand(records)
        if not await asyncio.shield(self.transport.bulk_handler(tp, records)):
            state.take_back(records)
            await asyncio.sleep(REFUSED_PAUSE)
            await self._fetch_again()

    async def _fetch_again(self) -> None:
        """Seek every partition back to its committed offset (records fetched past it were not
        handed, or not taken); those handed since are not handed again. Not while stopping
        (nothing more is handed, so nothing is committed past them) or with nothing assigned
        (the next assignment seeks); a seek that fails otherwise stops the worker, which then
        reads them again from the committed offset."""
        if self.should_stop or self.app.should_stop or not self.assignment():
            return
        try:
            await asyncio.wait_for(self.perform_seek(), SEEK_TIMEOUT)
        except (AssertionError, IllegalStateError):
            return  # the assignment went meanwhile

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        yield from super()._filter_tps_with_pending_acks(topics)
        for partition, state in self._handed.items():
            tp = TP(self.bulk_topic, partition)
            if state.offsets and (topics is None or tp in topics or tp.topic in topics):
                yield tp

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic == self.bulk_topic:
            state = self._handed.get(tp.partition)
            return None if state is None else state.advance()
        return super()._new_offset(tp)

    async def wait_empty(self) -> None:
        """Wait until every handed record is acknowledged (Faust's check counts only its own
        message objects), committing on the way; then Faust's own wait. Not once the app stops
        or crashed (a failed processor acknowledges nothing more)."""
        while not (self.should_stop or self.app.should_stop) and any(
            len(s.acked) < len(s.offsets) for s in self._handed.values()
        ):
            await self.commit()
            await self._wait_for_ack(timeout=1.0)
        await super().wait_empty()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        try:
            await super().on_partitions_revoked(revoked)
        finally:
            for tp in revoked:
                if tp.topic == self.bulk_topic:
                    self._handed.pop(tp.partition, None)


class _BulkTransport(faust_aiokafka.Transport):
    """The aiokafka transport creating :class:`BulkConsumer` for one topic and handler."""

    Consumer = BulkConsumer

    def __init__(self, app: faust.App, topic: str, handler: BulkHandler) -> None:
        super().__init__(app.conf.broker_consumer, app)
        self.bulk_topic = topic
        self.bulk_handler = handler


def install(app: faust.App, topic: str, handler: BulkHandler) -> None:
    """Make ``app`` read ``topic`` with bulk intake, handing each fetch of a partition to
    ``handler``. Call right after creating the app, before anything uses its transport."""
    if faust.__version__ != FAUST_VERSION:
        log.warning(
            "bulk intake was written for faust-streaming %s, this is %s",
            FAUST_VERSION, faust.__version__,
        )  # fmt: skip
    app.transport = _BulkTransport(app, topic, handler)
