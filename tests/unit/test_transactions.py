"""Transactions, their pure parts: the transactional id, the fenced-error classification, the
worker's stop reason, and the processor's use of a publisher (opened before recovery, one
transaction per batch holding delta, metrics and current-H records, acks after it)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException

from sparsiflow.connector.kafka.assembly import pause_limit
from sparsiflow.connector.kafka.transactions import (
    PartitionTakenOverError,
    TransactionalPublisher,
    is_fenced,
    transactional_id,
)
from sparsiflow.connector.kafka.worker import _exit_after_crash, _reason, _report
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.current_h import CurrentH
from sparsiflow.connector.stream.graphs import GraphLimits, GraphTable
from sparsiflow.connector.stream.processor import OutputTopics, Processor, ProcessorFailedError
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.engine.engine import Engine


def test_transactional_id_names_group_topic_and_partition() -> None:
    assert (
        transactional_id("sparsiflow", "edge-updates", 3) == "sparsiflow.sparsiflow.edge-updates.3"
    )
    assert transactional_id("g.1", "in.t", 0) == "sparsiflow.g.1.in.t.0"
    assert transactional_id("g", "t", 0) != transactional_id("g", "t", 1)
    assert transactional_id("g", "t", 0) != transactional_id("h", "t", 0)
    with pytest.raises(ValueError):
        transactional_id("g", "t", -1)


@pytest.mark.parametrize(
    ("code", "fenced"),
    [
        (KafkaError._FENCED, True),
        (KafkaError.PRODUCER_FENCED, True),
        (KafkaError.INVALID_PRODUCER_EPOCH, True),
        (KafkaError._TIMED_OUT, False),
        (KafkaError.NOT_LEADER_FOR_PARTITION, False),
        (KafkaError._TRANSPORT, False),
    ],
)
def test_fenced_errors_are_told_apart(code: int, fenced: bool) -> None:
    error = KafkaError(code)
    assert is_fenced(error) is fenced
    assert is_fenced(KafkaException(error)) is fenced


def test_a_fatal_error_saying_fenced_is_fenced_and_others_are_not() -> None:
    assert is_fenced(KafkaError(KafkaError._FATAL, "producer fenced by newer instance", fatal=True))
    assert not is_fenced(KafkaError(KafkaError._FATAL, "out of order sequence", fatal=True))
    assert not is_fenced(ValueError("fenced"))
    assert not is_fenced(KafkaException())


def test_the_stop_reason_says_the_partition_was_taken_over() -> None:
    fenced = KafkaError(KafkaError._FENCED, "This instance has been fenced by a newer instance")
    try:
        try:
            try:
                raise KafkaException(fenced)
            except KafkaException as exc:
                raise PartitionTakenOverError("in", 1, fenced) from exc
        except PartitionTakenOverError as exc:
            raise ProcessorFailedError(f"processing failed: {exc!r}") from exc
    except ProcessorFailedError as crash:
        reason = _reason(crash)
    assert reason.startswith("PartitionTakenOverError: input partition in[1] was taken over")
    assert "\n" not in reason


class FakePublisher:
    """Logs opens and transactions; offsets count up; ``fence`` makes publish fail."""

    def __init__(self, events: list[tuple[str, object]]) -> None:
        self.events = events
        self.offset = 0
        self.fence = False

    async def open(self, partition: int) -> None:
        self.events.append(("open", partition))

    async def publish(
        self,
        partition: int,
        records: Sequence[OutputRecord],
        more: Callable[[int], Sequence[OutputRecord]] | None = None,
    ) -> int:
        if self.fence:
            raise PartitionTakenOverError("in", partition, "fenced")
        first = self.offset
        sent = list(records) + list(more(first) if more is not None else [])
        self.offset += len(sent) + 1  # the commit marker takes an offset
        self.events.append(("txn", [r.topic for r in sent]))
        return first

    async def release(self, partition: int) -> None:
        self.events.append(("release", partition))

    async def close(self) -> None:
        self.events.append(("close", None))


class Sink:
    def __init__(self, events: list[tuple[str, object]]) -> None:
        self.events = events

    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        self.events.append(("faust", [r.topic for r in records]))
        return list(range(len(records)))


def _processor(
    events: list[tuple[str, object]], publisher: FakePublisher, pause_limit: float = 0.0
) -> Processor:
    async def ack(handles: Sequence[object]) -> None:
        events.append(("ack", list(handles)))

    return Processor(
        graphs=GraphTable(lambda g: Engine(graph_id=g), BatchPolicy(2, 1.0), GraphLimits()),
        topics=OutputTopics("deltas", "metrics", "dlq", 1, CurrentH("edges", 1, 1)),
        sink=Sink(events),
        ack=ack,
        executor=ThreadPoolExecutor(1),
        wall_clock=lambda: 1000.0,
        publisher=publisher,
        pause_limit=pause_limit,
    )


def _insert(offset: int, u: int, value: bytes | None = None) -> InputRecord:
    value = value or orjson.dumps({"graph": "g", "op": "insert", "u": u, "v": u + 1, "w": 1.0})
    return InputRecord("in", 0, offset, 999.5, b"g", value, handle=offset)


def test_a_batch_is_one_transaction_then_acked_and_dead_letters_go_outside() -> None:
    events: list[tuple[str, object]] = []
    publisher = FakePublisher(events)
    proc = _processor(events, publisher)

    async def run() -> None:
        await proc.on_record(_insert(5, 0))
        await proc.on_record(_insert(6, 0, b"not json"))
        await proc.on_record(_insert(7, 1))
        await proc.on_assigned([])  # releases partition 0
        await proc.close()

    asyncio.run(run())
    assert events[0] == ("open", 0)
    txn = events[1]
    assert txn[0] == "txn" and txn[1][:2] == ["deltas", "metrics"]
    assert set(txn[1][2:]) == {"edges"}  # current-H records, in the same transaction
    assert events[2] == ("faust", ["dlq"])  # the dead letter, on the Faust producer
    assert events[3] == ("ack", [6, 5, 7])
    assert ("release", 0) in events and events[-1] == ("close", None)


def test_a_fenced_publish_fails_the_processor_and_acks_nothing() -> None:
    events: list[tuple[str, object]] = []
    publisher = FakePublisher(events)
    proc = _processor(events, publisher)

    async def run() -> None:
        await proc.on_record(_insert(5, 0))
        publisher.fence = True
        with pytest.raises(ProcessorFailedError, match="taken over by another worker"):
            await proc.on_record(_insert(6, 1))

    asyncio.run(run())
    assert [e for e in events if e[0] in ("ack", "txn")] == []


def test_a_crashed_worker_ends_after_the_grace_even_if_its_shutdown_hangs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Service:
        crash_reason: BaseException | None = None

    services = [Service(), Service()]
    ended: list[int] = []
    done, reported = threading.Event(), threading.Event()

    def end(status: int) -> None:
        ended.append(status)
        done.set()

    _exit_after_crash(services, 0.2, reported, end)
    assert not done.wait(0.8)  # no crash, no end
    services[1].crash_reason = PartitionTakenOverError("in", 1, "fenced")
    assert done.wait(5) and ended == [1]
    out = capsys.readouterr().out
    assert (
        out == "sparsiflow worker stopped: PartitionTakenOverError: input partition in[1] "
        "was taken over by another worker (this worker's transactional producer was fenced): "
        "fenced\n"
    )
    _report(PartitionTakenOverError("in", 1, "fenced"), reported)  # the stop line is printed once
    assert capsys.readouterr().out == ""


def test_the_pause_limit_leaves_a_heartbeat_of_margin() -> None:
    assert pause_limit(60.0) == pytest.approx(56.5)
    assert pause_limit(6.0) == pytest.approx(4.0)
    assert pause_limit(1.0) == pytest.approx(0.5)


def test_after_a_long_pause_no_partition_is_taken_until_the_next_assignment() -> None:
    events: list[tuple[str, object]] = []
    proc = _processor(events, FakePublisher(events), pause_limit=1.0)

    async def run() -> None:
        await proc.on_assigned([0])
        proc.pulse()  # the worker's pulses have begun
        proc._beat -= 5.0  # frozen for 5 s, then the pulse runs first
        proc.pulse()
        with pytest.raises(ProcessorFailedError, match="paused for 5"):
            await proc.on_record(_insert(5, 0))

    asyncio.run(run())
    assert events == []  # nothing opened: the partition's owner is not fenced

    events.clear()
    proc = _processor(events, FakePublisher(events), pause_limit=1.0)

    async def fresh() -> None:
        proc.pulse()
        proc._beat -= 5.0  # frozen; the record comes before the pulse
        with pytest.raises(ProcessorFailedError, match="another worker may have taken"):
            await proc.on_record(_insert(5, 0))

    asyncio.run(fresh())

    events.clear()
    proc = _processor(events, FakePublisher(events), pause_limit=1.0)

    async def reassigned() -> None:
        proc.pulse()
        proc._beat -= 5.0
        proc.pulse()
        await proc.on_assigned([0])  # the group assigned it again after the pause
        await proc.on_record(_insert(5, 0))

    asyncio.run(reassigned())
    assert events[0] == ("open", 0)

    events.clear()
    proc = _processor(events, FakePublisher(events), pause_limit=1.0)

    async def slow_start() -> None:
        time.sleep(1.2)  # the worker starts up (Faust, the group) before its first pulse
        await proc.on_assigned([0])
        proc.pulse()
        await proc.on_record(_insert(5, 0))

    asyncio.run(slow_start())
    assert events[0] == ("open", 0)  # a start is no pause


class FakeProducer:
    """A confluent-kafka producer double whose commit fails with ``error``."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.calls: list[str] = []

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, **kwargs: object) -> None:
        self.calls.append("produce")
        callback = kwargs["on_delivery"]
        if callback is not None:  # only the first record of a publish reports its delivery
            assert callable(callback)
            callback(None, type("Msg", (), {"offset": lambda self: 7})())

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        return 0

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        raise KafkaException(self.error)

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")


def test_a_failed_commit_is_aborted_unless_fenced() -> None:
    record = OutputRecord("deltas", b"g", b"v", [], 0)
    publisher = TransactionalPublisher({}, "g", "in", max_bytes=2**20)
    timed_out = FakeProducer(KafkaError(KafkaError._TIMED_OUT))
    publisher._producers[0] = timed_out
    with pytest.raises(KafkaException):
        publisher._publish(0, [record], None)
    assert timed_out.calls == ["begin", "produce", "flush", "commit", "abort"]
    fenced = FakeProducer(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    publisher._producers[0] = fenced
    with pytest.raises(PartitionTakenOverError, match=r"in\[0\] was taken over"):
        publisher._publish(0, [record], None)
    assert "abort" not in fenced.calls  # a fenced producer can do nothing more


class QueueProducer(FakeProducer):
    """A producer double whose local queue holds ``room`` records until polled."""

    def __init__(self, room: int) -> None:
        super().__init__(KafkaError(KafkaError._TIMED_OUT))
        self.room, self.queued, self.delivered = room, 0, 0

    def produce(self, topic: str, **kwargs: object) -> None:
        if self.queued == self.room:
            raise BufferError("Local: Queue full")
        self.queued += 1
        super().produce(topic, **kwargs)
        self.delivered += 1

    def poll(self, timeout: float) -> int:
        self.queued = 0
        return 0

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")


def test_more_records_than_the_local_queue_holds_wait_for_room() -> None:
    """A recovered graph's current-H can outnumber the client's queue (100,000 records)."""
    records = [OutputRecord("edges", b"g", b"v", [], 0)] * 25
    publisher = TransactionalPublisher({}, "g", "in", max_bytes=2**20)
    producer = QueueProducer(room=4)
    publisher._producers[0] = producer
    assert publisher._publish(0, records, None) == 7
    assert producer.delivered == 25 and producer.calls[-1] == "commit"
