"""Dead letters that never fail on size: a record over what the DLQ accepts becomes an envelope
(the value's first bytes, its size and digest in headers) that fits and satisfies the contract;
a DLQ write that fails anyway stops the worker with one line naming the topic and the error."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError, NotEnoughReplicasError
from contract_oracle import validator
from faust.exceptions import ProducerSendError
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from sparsiflow.connector.kafka.app import _FaustSink
from sparsiflow.connector.kafka.worker import _reason
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.graphs import GraphLimits, GraphTable
from sparsiflow.connector.stream.processor import OutputTopics, Processor, ProcessorFailedError
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.dead_letters import (
    KEY_PREFIX_BYTES,
    MIN_DLQ_BYTES,
    VALUE_PREFIX_BYTES,
    DeadLetterWriteError,
    dlq_record,
    read_dlq_headers,
    record_bytes,
)
from sparsiflow.connector.wire.edge_updates import DecodeLimits, decode
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.engine import Engine

OVERSIZED = Rejected(Reason.OVERSIZED_RECORD, "record of many bytes exceeds the limit")
TRACE = ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
NOW = 1767225601.5


def record(value: bytes | None, key: bytes | None = b"g1", headers: Any = None) -> InputRecord:
    return InputRecord("in", 3, 1041, 1.0, key, value, list(headers or [TRACE]))


def valid(out: OutputRecord) -> dict[str, str]:
    """The DLQ headers of ``out``, checked against the contract."""
    headers = read_dlq_headers(out.headers)
    assert validator("dlq-envelope").is_valid(headers), headers
    assert [k for k, _ in out.headers].count("sparsiflow.reason") == 1
    return headers


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- sizes at, under and over the limit -------------------------------------------------------
def test_a_record_at_or_under_the_limit_goes_whole() -> None:
    rec = record(b"x" * 5000)
    whole = dlq_record("dlq", rec, OVERSIZED, NOW)  # no limit: whole, as before
    size = record_bytes(whole)
    assert size > 5000
    for limit in (size, size + 1, 10 * size):
        out = dlq_record("dlq", rec, OVERSIZED, NOW, limit)
        assert out == whole
        assert "sparsiflow.value_truncated" not in valid(out)
        assert out.headers[0] == TRACE


def test_one_byte_over_the_limit_makes_an_envelope() -> None:
    value = b'{"graph":"g1","ops":[' + b'"insert",' * 1000 + b'"insert"]}'
    rec = record(value)
    limit = record_bytes(dlq_record("dlq", rec, OVERSIZED, NOW)) - 1
    out = dlq_record("dlq", rec, OVERSIZED, NOW, limit)
    assert out.value == value[:VALUE_PREFIX_BYTES] and out.key == b"g1"
    headers = valid(out)
    assert headers["sparsiflow.value_truncated"] == "true"
    assert headers["sparsiflow.value_bytes"] == str(len(value))
    assert headers["sparsiflow.value_sha256"] == sha256(value)
    assert headers["traceparent"] == TRACE[1].decode()  # original headers kept when they fit
    assert "sparsiflow.headers_dropped" not in headers
    assert not any(k.startswith("sparsiflow.key_") for k in headers)
    assert record_bytes(out) <= limit


def test_a_20_mib_oversized_record_becomes_a_1_kib_envelope_under_16_mib() -> None:
    value = b'{"graph":"g7","ops":[' + b'"insert",' * (20 * 2**20 // 9) + b'"insert"]}'
    assert len(value) > 20 * 2**20
    rejected = decode(value, DecodeLimits())
    assert isinstance(rejected, Rejected) and rejected.reason is Reason.OVERSIZED_RECORD
    out = dlq_record("dlq", record(value, b"g7"), rejected, NOW, 16 * 2**20)
    headers = valid(out)
    assert len(out.value or b"") == VALUE_PREFIX_BYTES == 1024
    assert headers["sparsiflow.reason"] == "oversized_record"
    assert headers["sparsiflow.error_class"] == "MalformedRecord"
    assert (headers["sparsiflow.source_partition"], headers["sparsiflow.source_offset"]) == (
        "3",
        "1041",
    )
    assert int(headers["sparsiflow.value_bytes"]) == len(value)
    assert headers["sparsiflow.value_sha256"] == sha256(value)
    assert record_bytes(out) < 4096


def test_a_small_value_is_kept_whole_when_long_headers_make_the_envelope() -> None:
    big = ("blob", b"b" * 100_000)
    rec = record(b'{"graph":"g1","op":"insert","u":1,"v":1,"w":1}', headers=[TRACE, big, TRACE])
    out = dlq_record("dlq", rec, Rejected(Reason.SELF_LOOP, "self-loop"), NOW, 64 * 1024)
    headers = valid(out)
    assert out.value == rec.value  # it fits: not cut, no value headers
    assert not any(k.startswith("sparsiflow.value_") for k in headers)
    assert [h for h in out.headers if not h[0].startswith("sparsiflow.")] == [TRACE, TRACE]
    assert headers["sparsiflow.headers_dropped"] == "1"
    assert record_bytes(out) <= 64 * 1024


def test_a_huge_key_is_cut_with_its_size_and_digest() -> None:
    key = b"k" * (3 * 2**20)
    rec = record(b'{"graph":"g1","op":"insert","u":1,"v":2,"w":1}', key=key)
    rejected = Rejected(Reason.KEY_MISMATCH, f"record key {key[:80]!r} is not the graph id 'g1'")
    out = dlq_record("dlq", rec, rejected, NOW, 2**20)
    headers = valid(out)
    assert out.key == key[:KEY_PREFIX_BYTES]
    assert headers["sparsiflow.key_truncated"] == "true"
    assert headers["sparsiflow.key_bytes"] == str(len(key))
    assert headers["sparsiflow.key_sha256"] == sha256(key)
    assert out.value == rec.value
    assert record_bytes(out) <= 2**20


def test_a_tombstone_with_a_huge_key_has_an_empty_value() -> None:
    key = b"k" * 70_000
    rejected = Rejected(Reason.BAD_GRAPH_ID, "not a graph id")
    out = dlq_record("dlq", record(None, key=key), rejected, NOW, MIN_DLQ_BYTES)
    headers = valid(out)
    assert out.value == b"" and "sparsiflow.value_truncated" not in headers
    assert headers["sparsiflow.key_bytes"] == "70000"


def test_below_the_value_prefix_room_the_value_shrinks_to_fit() -> None:
    value = b"v" * 50_000
    rec = record(value, headers=[])
    for limit in (2000, 1500, 1200):
        out = dlq_record("dlq", rec, OVERSIZED, NOW, limit)
        assert record_bytes(out) <= limit
        assert 0 < len(out.value or b"") < VALUE_PREFIX_BYTES
        assert valid(out)["sparsiflow.value_sha256"] == sha256(value)


@settings(max_examples=200, deadline=None)
@given(
    key=st.one_of(st.none(), st.binary(max_size=5000)),
    value=st.one_of(st.none(), st.binary(max_size=300_000)),
    headers=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30).filter(lambda k: not k.startswith("sparsiflow.")),
            st.binary(max_size=40_000),
        ),
        max_size=6,
    ),
    message=st.text(max_size=600),
    topic=st.text(alphabet="abcdefghij._-", min_size=1, max_size=249),
    limit=st.integers(MIN_DLQ_BYTES, 200_000),
)
def test_any_dead_letter_fits_any_limit_of_at_least_the_minimum(
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    message: str,
    topic: str,
    limit: int,
) -> None:
    rec = InputRecord(topic, 2**31 - 1, 2**62, 1.0, key, value, headers)
    out = dlq_record("dlq", rec, Rejected(Reason.SCHEMA, message), NOW, limit)
    got = valid(out)
    assert record_bytes(out) <= limit
    whole = dlq_record("dlq", rec, Rejected(Reason.SCHEMA, message), NOW)
    if record_bytes(whole) <= limit:
        assert out == whole
    original = value or b""
    if "sparsiflow.value_truncated" in got:
        assert original.startswith(out.value or b"") and len(out.value or b"") < len(original)
        assert got["sparsiflow.value_sha256"] == sha256(original)
    else:
        assert out.value == original
    if key is not None and "sparsiflow.key_truncated" in got:
        assert got["sparsiflow.key_sha256"] == sha256(key) and key.startswith(out.key or b"")
    else:
        assert out.key == key
    kept = [h for h in out.headers if not h[0].startswith("sparsiflow.")]
    assert len(kept) + int(got.get("sparsiflow.headers_dropped", "0")) == len(headers)


# --- the processor writes envelopes -----------------------------------------------------------
class Sink:
    def __init__(self) -> None:
        self.records: list[OutputRecord] = []
        self.acked: list[object] = []

    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        self.records += records
        return list(range(len(records)))

    async def ack(self, handles: Sequence[object]) -> None:
        self.acked += handles


def test_the_processor_dead_letters_an_oversized_record_as_an_envelope() -> None:
    sink = Sink()
    proc = Processor(
        graphs=GraphTable(lambda g: Engine(graph_id=g), BatchPolicy(4, 1.0), GraphLimits()),
        topics=OutputTopics("deltas", "metrics", "dlq", dlq_max_bytes=64 * 1024),
        sink=sink,
        ack=sink.ack,
        executor=ThreadPoolExecutor(1),
        limits=DecodeLimits(max_record_bytes=100_000),
        wall_clock=lambda: NOW,
    )
    value = orjson.dumps(
        {"graph": "g1", "op": "insert", "u": 1, "v": 2, "w": 1.0, "x": "y" * 2**20}
    )

    async def run() -> None:
        await proc.on_record(InputRecord("in", 0, 5, 1.0, b"g1", value, handle="bad"))
        await proc.on_tick()

    asyncio.run(run())
    (out,) = [r for r in sink.records if r.topic == "dlq"]
    headers = valid(out)
    assert headers["sparsiflow.reason"] == "oversized_record"
    assert headers["sparsiflow.value_bytes"] == str(len(value))
    assert out.value == value[:VALUE_PREFIX_BYTES]
    assert sink.acked == ["bad"]


# --- a DLQ write that fails ---------------------------------------------------------------------
class RefusingSink(Sink):
    """Delivers everything but dead letters, which fail as the Faust sink reports them."""

    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        for r in records:
            if r.topic == "dlq":
                raise DeadLetterWriteError(r, NotEnoughReplicasError())
        return await super().deliver(records)


def test_a_refused_dead_letter_stops_the_processor_before_acknowledging_the_record() -> None:
    sink = RefusingSink()
    proc = Processor(
        graphs=GraphTable(lambda g: Engine(graph_id=g), BatchPolicy(2, 1.0), GraphLimits()),
        topics=OutputTopics("deltas", "metrics", "dlq"),
        sink=sink,
        ack=sink.ack,
        executor=ThreadPoolExecutor(1),
        wall_clock=lambda: NOW,
    )
    good = orjson.dumps({"graph": "g1", "op": "insert", "u": 1, "v": 2, "w": 1.0})

    async def run() -> list[ProcessorFailedError]:
        await proc.on_record(InputRecord("in", 0, 0, 1.0, b"g1", good, handle=0))
        await proc.on_record(InputRecord("in", 0, 1, 1.0, b"g1", b"{nope", handle=1))
        errors = []
        for step in (proc.on_tick, proc.on_tick):  # the failure, then any later call
            with pytest.raises(ProcessorFailedError) as failed:
                await step()
            errors.append(failed.value)
        return errors

    first, later = asyncio.run(run())
    assert sink.acked == []  # nothing acknowledged: the committed offset stays before it
    line = (
        "DeadLetterWriteError: dead-letter topic 'dlq' could not be written: "
        "NotEnoughReplicasError: [Error 19] NotEnoughReplicasError (rejected record 'in' "
        "partition 0 offset 1 left unacknowledged)"
    )
    assert _reason(first) == _reason(later) == line
    for crash in (first, later):  # mode's worker ends with `raise crash from crash`
        crash.__cause__ = crash
    assert _reason(first) == line  # through its context
    assert _reason(later) == f"ProcessorFailedError: an earlier batch failed: {line}"


class Producer:
    """A Faust producer double: ``send`` returns a future; records of ``fail_topic`` fail."""

    def __init__(self, fail_topic: str, error: Exception, at_send: bool = False) -> None:
        self.fail_topic, self.error, self.at_send = fail_topic, error, at_send
        self.sent: list[str] = []

    async def send(self, topic: str, *args: Any) -> asyncio.Future[Any]:
        if topic == self.fail_topic and self.at_send:
            raise ProducerSendError(f"Error while sending: {self.error!r}") from self.error
        self.sent.append(topic)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.fail_topic:
            future.set_exception(self.error)
        else:
            future.set_result(SimpleNamespace(offset=len(self.sent)))
        return future


def dead_letter() -> OutputRecord:
    return dlq_record("t.dlq", record(b"{nope"), Rejected(Reason.MALFORMED_JSON, "bad"), NOW)


@pytest.mark.parametrize("at_send", [False, True])
def test_a_failed_dlq_write_names_the_topic_and_the_error_and_is_counted(at_send: bool) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    producer = Producer("t.dlq", NotEnoughReplicasError(), at_send)
    sink = _FaustSink(SimpleNamespace(producer=producer), "t.dlq", metrics)  # type: ignore[arg-type]
    metric = OutputRecord("metrics", b"g1", b"{}")
    with pytest.raises(DeadLetterWriteError) as failed:
        asyncio.run(sink.deliver([metric, dead_letter()]))
    assert failed.value.topic == "t.dlq"
    assert registry.get_sample_value("sparsiflow_dlq_failures_total") == 1
    reason = _reason(ProcessorFailedError("processing failed"))  # no cause: itself
    assert reason == "ProcessorFailedError: processing failed"
    try:  # as the processor wraps it: the printed reason is the dead letter's, in one line
        raise ProcessorFailedError(f"processing failed: {failed.value!r}") from failed.value
    except ProcessorFailedError as crash:
        line = _reason(crash)
    assert line == (
        "DeadLetterWriteError: dead-letter topic 't.dlq' could not be written: "
        "NotEnoughReplicasError: [Error 19] NotEnoughReplicasError (rejected record 'in' "
        "partition 3 offset 1041 left unacknowledged)"
    )


def test_other_failures_are_raised_as_they_are_and_not_counted() -> None:
    registry = CollectorRegistry()
    sink = _FaustSink(
        SimpleNamespace(producer=Producer("deltas", MessageSizeTooLargeError())),  # type: ignore[arg-type]
        "t.dlq",
        WorkerMetrics(registry),
    )
    with pytest.raises(MessageSizeTooLargeError):
        asyncio.run(sink.deliver([dead_letter(), OutputRecord("deltas", b"g1", b"{}")]))
    assert registry.get_sample_value("sparsiflow_dlq_failures_total") == 0
    ok = _FaustSink(SimpleNamespace(producer=Producer("none", ValueError())), "t.dlq")  # type: ignore[arg-type]
    assert asyncio.run(ok.deliver([dead_letter(), dead_letter()])) == [1, 2]
