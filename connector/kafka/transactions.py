"""One writer per input partition: each batch's outputs are published in a Kafka transaction of
a confluent-kafka producer owned by the input partition, so a worker that lost a partition
(frozen past the session timeout, then woken) cannot publish anything its new owner does not
know about.

Per input partition the worker has one transactional producer whose ``transactional.id`` is
:func:`transactional_id` (``sparsiflow.<group id>.<input topic>.<partition>``): the same on
every worker of the group, so whoever takes the partition calls ``init_transactions()`` with it
before reading the deltas topic back, which fences every earlier producer of that id (the
broker aborts its open transaction and refuses its later writes: Kafka's ``PRODUCER_FENCED``,
seen by librdkafka as the fatal ``_FENCED``). A fenced worker raises
:class:`PartitionTakenOverError` and stops; its batch is never visible to ``read_committed``
readers.

Blocking client calls run on one thread of this module's own (processing is sequential: one
batch at a time, so one thread serves every partition, and the engine's thread stays free).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sparsiflow.connector.stream.records import OutputRecord

__all__ = [
    "TRANSACTION_TIMEOUT_MS",
    "PartitionTakenOverError",
    "TransactionalPublisher",
    "is_fenced",
    "transactional_id",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSACTION_TIMEOUT_MS = 30_000
"""A transaction left open longer (its producer frozen or gone) is aborted by the broker: it
bounds how long it holds the last stable offset of the partitions it wrote to (readers of those
partitions, recovery included, wait for it)."""

_FENCED_CODES = frozenset({"_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"})


def transactional_id(group_id: str, input_topic: str, partition: int) -> str:
    """The ``transactional.id`` of ``partition`` of ``input_topic`` in consumer group
    ``group_id``: ``sparsiflow.<group_id>.<input_topic>.<partition>`` (group ids and topic
    names may hold dots, but the partition is the last field and the group comes first)."""
    if partition < 0:
        raise ValueError(f"partition {partition} is negative")
    return f"sparsiflow.{group_id}.{input_topic}.{partition}"


def is_fenced(error: Any) -> bool:
    """Whether a confluent-kafka ``KafkaError`` (or a ``KafkaException`` holding one) says a
    newer producer with the same transactional id took over: ``_FENCED`` (librdkafka's fatal
    error), ``PRODUCER_FENCED`` or ``INVALID_PRODUCER_EPOCH`` (the broker's), or a fatal error
    whose text says so."""
    if isinstance(error, BaseException):
        if not error.args:
            return False
        error = error.args[0]
    try:
        name = str(error.name())
        fatal = bool(error.fatal())
        text = str(error.str())
    except AttributeError:
        return False
    return name in _FENCED_CODES or (fatal and "fenced" in text.lower())


class PartitionTakenOverError(RuntimeError):
    """Another worker took this input partition (its transactional producer fenced ours)."""

    def __init__(self, topic: str, partition: int, cause: object) -> None:
        super().__init__(
            f"input partition {topic}[{partition}] was taken over by another worker (this "
            f"worker's transactional producer was fenced): {cause}"
        )
        self.partition = partition


class TransactionalPublisher:
    """Publishes each batch's outputs of an input partition in one transaction of that
    partition's producer; ``config``: librdkafka settings (bootstrap, TLS, SASL)."""

    def __init__(
        self,
        config: dict[str, Any],
        group_id: str,
        input_topic: str,
        *,
        max_bytes: int,
        timeout: float = 60.0,
    ) -> None:
        self._config = {
            **config,
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "message.max.bytes": max_bytes,
            "linger.ms": 0,  # each transaction is flushed at once
            "partitioner": "murmur2_random",  # the Java client's (and aiokafka's) for keyed records
        }
        self._group = group_id
        self._topic = input_topic
        self._timeout = timeout
        self._producers: dict[int, Any] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sparsiflow-txn")

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def open(self, partition: int) -> None:
        """Take ``partition``: a new producer of its transactional id, initialized (which
        fences earlier producers of the id and aborts their open transaction)."""
        await self._run(self._open, partition)

    async def publish(
        self,
        partition: int,
        records: Sequence[OutputRecord],
        more: Callable[[int], Sequence[OutputRecord]] | None = None,
    ) -> int:
        """One transaction: ``records``, then (once the first is written, its offset known)
        ``more(offset of the first)``; returns the first's offset once committed."""
        return await self._run(self._publish, partition, records, more)

    async def release(self, partition: int) -> None:
        """Close ``partition``'s producer (when it is ours no more)."""
        await self._run(self._close, partition)

    async def close(self) -> None:
        """Close every producer and the thread."""
        await self._run(self._close_all)
        self._thread.shutdown(wait=False)

    # --- on the thread ------------------------------------------------------------------------
    def _open(self, partition: int) -> None:
        from confluent_kafka import KafkaException, Producer

        self._close(partition)
        tid = transactional_id(self._group, self._topic, partition)
        producer = Producer({**self._config, "transactional.id": tid})
        try:
            producer.init_transactions(self._timeout)
        except KafkaException as exc:
            raise self._failure(partition, exc) from exc
        self._producers[partition] = producer
        log.info("transactional producer %s ready", tid)

    def _publish(
        self,
        partition: int,
        records: Sequence[OutputRecord],
        more: Callable[[int], Sequence[OutputRecord]] | None,
    ) -> int:
        from confluent_kafka import KafkaException

        producer = self._producers.get(partition)
        if producer is None:
            raise RuntimeError(f"input partition {partition} has no transactional producer")
        first: list[int] = []  # the offset of the first record, once written
        errors: list[Any] = []
        try:
            producer.begin_transaction()
            self._produce(producer, records, first, errors)
            if more is not None:
                self._flush(producer, first, errors)
                self._produce(producer, more(first[0]), None, errors)
            self._flush(producer, first, errors)
            producer.commit_transaction(self._timeout)
        except (KafkaException, SystemError) as exc:
            # A fatal error (fenced) raised while the client serves delivery callbacks comes
            # out as a SystemError caused by the KafkaException.
            error = exc if isinstance(exc, KafkaException) else exc.__cause__ or exc.__context__
            if not isinstance(error, KafkaException):
                self._abort(producer)
                raise
            if not is_fenced(error):
                self._abort(producer)
            raise self._failure(partition, error) from exc
        except TimeoutError:
            self._abort(producer)
            raise
        return first[0]

    def _abort(self, producer: Any) -> None:
        """Best effort: abort the open transaction (else it holds the last stable offset of
        the partitions it wrote to until the next owner's ``init_transactions`` or the
        transaction timeout)."""
        try:
            producer.abort_transaction(min(self._timeout, 10.0))
        except Exception as exc:  # the worker stops anyway; the next owner aborts it
            log.info("aborting a failed transaction: %r", exc)

    @staticmethod
    def _produce(
        producer: Any, records: Sequence[OutputRecord], first: list[int] | None, errors: list[Any]
    ) -> None:
        """Send ``records``, waiting for room whenever the client's local queue is full. Only
        the first record reports its delivery (into ``first``, or ``errors``; ``first`` None:
        none does): a record that fails leaves the transaction abortable, so its commit
        raises. (A callback per record cost the publishing thread about 1 us of the GIL for
        each current-H record, 0.6 of them per input update when a graph streams in.)"""

        def done(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(err)
            elif first is not None:
                first.append(int(msg.offset()))

        for i, r in enumerate(records):
            while True:
                try:
                    producer.produce(
                        r.topic,
                        value=r.value,
                        key=r.key,
                        partition=-1 if r.partition is None else r.partition,
                        headers=list(r.headers) if r.headers else None,
                        on_delivery=done if i == 0 and first is not None else None,
                    )
                    break
                except BufferError:  # the local queue is full (e.g. a recovered graph's whole
                    producer.poll(0.05)  # current-H): wait for deliveries to make room

    def _flush(self, producer: Any, first: list[int], errors: list[Any]) -> None:
        """Wait until every record sent is out of the client's queue (raise if the first
        failed or they are not out in time)."""
        from confluent_kafka import KafkaException

        left = producer.flush(self._timeout)
        if errors:
            raise KafkaException(errors[0])
        if left or not first:
            raise TimeoutError(f"{left} record(s) not delivered in {self._timeout:.0f} s")

    def _failure(self, partition: int, exc: BaseException) -> BaseException:
        if is_fenced(exc):
            return PartitionTakenOverError(self._topic, partition, exc.args[0] if exc.args else exc)
        return exc

    def _close(self, partition: int) -> None:
        producer = self._producers.pop(partition, None)
        if producer is None:
            return
        try:
            producer.flush(1.0)
        except Exception as exc:  # a fenced producer may refuse: it is dropped all the same
            log.info("closing the producer of partition %d: %r", partition, exc)

    def _close_all(self) -> None:
        for partition in list(self._producers):
            self._close(partition)
