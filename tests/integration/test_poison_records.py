"""Poison records on the real broker, each against a worker subprocess with default settings: a
record the worker rejects must never stop the stream, and a dead letter the DLQ topic refuses
must stop the worker loudly without losing the record.

Shared pieces for further poison-path tests: :func:`poison_topics` (topics with configs),
:func:`start_worker` (workers stopped at teardown), :func:`send`, :func:`insert`,
:func:`records`, :func:`deltas` (every one checked against the delta schema),
:func:`wait_covered`, :func:`committed` and :func:`stop_reasons`."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from hostile_corpus import CORPUS_LIMITS, GRAPH, good_records, hostile_cases
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sparsiflow import schemas
from sparsiflow.connector.downstream.materialize import EdgeMap
from sparsiflow.connector.kafka.topic_reader import MissingTopicError, read_topic
from sparsiflow.connector.kafka.topics import (
    KAFKA_DEFAULT_MESSAGE_BYTES,
    MAX_OUTPUT_BYTES,
    accepted_bytes,
)
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.settings import ClientConfigs
from sparsiflow.connector.wire.dead_letters import VALUE_PREFIX_BYTES, read_dlq_headers
from sparsiflow.connector.wire.deltas import decode_delta

KINDS = ("input", "deltas", "metrics", "dlq")
MiB = 2**20
DELTA_SCHEMA = Draft202012Validator(schemas.load_schema("sparsifier-delta"))
ENVELOPE_SCHEMA = Draft202012Validator(schemas.load_schema("dlq-envelope"))

Item = tuple[bytes | None, bytes | None]  # key, value


# --- shared fixtures and helpers ------------------------------------------------------------
@pytest.fixture
def poison_topics(
    unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> Callable[..., dict[str, str]]:
    """``make(input_config=..., dlq_config=...)``: names of a worker's topics; the input topic
    (one partition) is created with ``input_config``, the DLQ only when ``dlq_config`` is given
    (else the worker creates it, and the deltas and metrics topics, with its defaults)."""

    def make(
        input_config: dict[str, str] | None = None, dlq_config: dict[str, str] | None = None
    ) -> dict[str, str]:
        names = {kind: unique_name(kind) for kind in KINDS}
        create_topic(names["input"], 1, input_config)
        if dlq_config is not None:
            create_topic(names["dlq"], 1, dlq_config)
        return names

    return make


@pytest.fixture
def start_worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """``start(topics, group, **settings)``: a started worker (``SPARSIFLOW_*`` settings as
    keywords; none: the defaults), logging to its own file; every one is stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(topics: dict[str, str], group: str, **settings: str) -> WorkerProcess:
        env = worker_env(kafka_bootstrap, topics, group, **settings)
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def insert(graph: str, u: int, v: int, w: float = 1.0) -> Item:
    """A keyed single-form insert."""
    return graph.encode(), orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": w})


def send(bootstrap: str, topic: str, items: list[Item]) -> list[int]:
    """Produce ``items`` in order (records up to 64 MiB); each one's offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 64 * MiB})
    offsets = [-1] * len(items)
    errors: list[str] = []

    def on_delivery(i: int, err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            offsets[i] = msg.offset()

    for i, (key, value) in enumerate(items):
        producer.produce(topic, value, key, on_delivery=functools.partial(on_delivery, i))
        producer.poll(0)
    assert producer.flush(60) == 0 and not errors, errors
    return offsets


def records(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` (none while it does not exist)."""
    try:
        return list(read_topic({"bootstrap.servers": bootstrap}, topic))
    except MissingTopicError:
        return []


def deltas(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The deltas published so far, each checked against ``sparsifier-delta.v1.json``."""
    found = [orjson.loads(m.value()) for m in records(bootstrap, topic)]
    invalid = [d for d in found if not DELTA_SCHEMA.is_valid(d)]
    assert not invalid, invalid[:3]
    return found


def wait_covered(worker: WorkerProcess, bootstrap: str, topic: str, last: dict[str, int]) -> None:
    """Wait until the deltas of each graph of ``last`` cover its input offset there."""

    def covered() -> bool:
        reached: dict[str, int] = {}
        for d in deltas(bootstrap, topic):
            reached[d["graph"]] = max(reached.get(d["graph"], -1), d["source"]["last_offset"])
        return all(reached.get(g, -1) >= offset for g, offset in last.items())

    worker.wait_until(covered, 120, f"deltas covering {last}")


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The offset ``group`` committed on partition 0 of ``topic`` (negative: none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        consumer.close()
    return int(tp.offset)


def stop_reasons(worker: WorkerProcess) -> list[str]:
    """The worker's ``sparsiflow worker stopped: ...`` lines."""
    text = worker.log.read_text(errors="replace") if worker.log.exists() else ""
    return [line for line in text.splitlines() if line.startswith("sparsiflow worker stopped:")]


def path_of(graph: str, first: int, count: int) -> list[Item]:
    """Inserts of a path's edges ``first .. first + count - 1`` (a tree: H keeps all of it)."""
    return [insert(graph, u, u + 1, 1.0 + u % 3) for u in range(first, first + count)]


def rebuilt(found: list[dict[str, Any]], graph: str) -> dict[tuple[int, int], float]:
    """H of ``graph`` replayed from its deltas in batch order."""
    h = EdgeMap()
    mine = sorted((d for d in found if d["graph"] == graph), key=lambda d: d["batch"])
    assert [d["batch"] for d in mine] == list(range(len(mine)))
    for d in mine:
        h.apply_delta(decode_delta(orjson.dumps(d)).delta)
    return h.edges


# --- the DLQ limit as the broker reports it ---------------------------------------------------
def test_the_dlq_limit_is_the_topics_max_message_bytes_capped_by_the_producer(
    kafka_bootstrap: str, unique_name: Callable[[str], str], create_topic: Callable[..., str]
) -> None:
    configs = ClientConfigs({"bootstrap.servers": kafka_bootstrap}, "", None)
    small = create_topic(unique_name("small"), 1, {"max.message.bytes": "65536"})
    large = create_topic(unique_name("large"), 1, {"max.message.bytes": str(64 * MiB)})
    assert accepted_bytes(configs, small) == 65536
    assert accepted_bytes(configs, large) == MAX_OUTPUT_BYTES
    assert accepted_bytes(configs, unique_name("missing")) == KAFKA_DEFAULT_MESSAGE_BYTES


# --- an oversized record --------------------------------------------------------------------
def test_a_20_mib_record_is_dead_lettered_as_an_envelope_and_the_stream_goes_on(
    kafka_bootstrap: str,
    poison_topics: Callable[..., dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    unique_name: Callable[[str], str],
) -> None:
    """The input topic takes 32 MiB records (an operator raised it); the worker rejects a
    20 MiB one (over its 8 MiB record limit) and the 16 MiB DLQ gets its envelope."""
    topics = poison_topics(input_config={"max.message.bytes": str(32 * MiB)})
    group = unique_name("group")
    worker = start_worker(topics, group)
    before = path_of("g.a", 0, 10)
    big = b'{"graph":"g.a","ops":[' + b'"insert",' * (20 * MiB // 9) + b'"insert"]}'
    assert 20 * MiB < len(big) < 32 * MiB
    after = path_of("g.a", 10, 10) + path_of("g.b", 0, 10) + path_of("g.a", 20, 5)
    items = [*before, (b"g.a", big), *after]
    offsets = send(kafka_bootstrap, topics["input"], items)
    bad = offsets[len(before)]
    good = [(k, v, o) for (k, v), o in zip(items, offsets, strict=True) if o != bad]
    last = {k.decode(): o for k, _, o in good if k is not None}
    wait_covered(worker, kafka_bootstrap, topics["deltas"], last)
    worker.wait_until(lambda: len(records(kafka_bootstrap, topics["dlq"])) >= 1, 60, "the DLQ")
    assert worker.alive() and stop_reasons(worker) == []
    assert worker.stop() == 0, worker.diagnosis()

    (dead,) = records(kafka_bootstrap, topics["dlq"])
    headers = read_dlq_headers(dead.headers())
    assert ENVELOPE_SCHEMA.is_valid(headers), headers
    assert headers["sparsiflow.reason"] == "oversized_record"
    assert headers["sparsiflow.source_topic"] == topics["input"]
    assert (headers["sparsiflow.source_partition"], headers["sparsiflow.source_offset"]) == (
        "0",
        str(bad),
    )
    assert headers["sparsiflow.value_truncated"] == "true"
    assert headers["sparsiflow.value_bytes"] == str(len(big))
    assert headers["sparsiflow.value_sha256"] == hashlib.sha256(big).hexdigest()
    assert dead.key() == b"g.a" and dead.value() == big[:VALUE_PREFIX_BYTES]

    found = deltas(kafka_bootstrap, topics["deltas"])  # every one schema-checked
    expected: dict[str, dict[tuple[int, int], float]] = {"g.a": {}, "g.b": {}}
    for key, value, _ in good:
        assert key is not None and value is not None
        event = orjson.loads(value)
        expected[key.decode()][(event["u"], event["v"])] = event["w"]
    for graph, edges in expected.items():
        assert rebuilt(found, graph) == edges  # every good record, after the bad one too
    assert committed(kafka_bootstrap, group, topics["input"]) == len(items)  # all acknowledged


# --- a DLQ that cannot be written -----------------------------------------------------------
def test_a_dlq_that_refuses_a_dead_letter_stops_the_worker_without_committing_past_it(
    kafka_bootstrap: str,
    poison_topics: Callable[..., dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    unique_name: Callable[[str], str],
) -> None:
    """A failure no envelope can fix: the DLQ topic was created compacted, and a compacted
    topic refuses records without a key, so the dead letter of a keyless record (rejected as
    ``key_mismatch``) is refused by the broker. The worker stops with one line naming the topic
    and the error, and its committed offset stays at the record: a restart reads it again (and
    says why it stops again) until an operator fixes the topic."""
    topics = poison_topics(dlq_config={"cleanup.policy": "compact"})
    group = unique_name("group")
    worker = start_worker(topics, group)
    good = send(kafka_bootstrap, topics["input"], path_of("g.a", 0, 10))
    wait_covered(worker, kafka_bootstrap, topics["deltas"], {"g.a": good[-1]})
    worker.wait_until(
        lambda: committed(kafka_bootstrap, group, topics["input"]) == len(good), 30, "a commit"
    )
    keyless = orjson.dumps({"graph": "g.a", "op": "insert", "u": 50, "v": 51, "w": 1.0})
    (bad, *_) = send(kafka_bootstrap, topics["input"], [(None, keyless), *path_of("g.a", 10, 5)])
    assert bad == len(good)

    for attempt in range(2):  # the first run, then a restart that meets the record again
        worker.wait_until(lambda: not worker.alive(), 120, "the worker to stop")  # noqa: B023
        assert worker.stop() != 0
        reasons = stop_reasons(worker)
        assert len(reasons) == 1, worker.diagnosis()
        (line,) = reasons  # "...: ProcessorFailedError: an earlier batch failed: " may lead
        assert (
            f"DeadLetterWriteError: dead-letter topic '{topics['dlq']}' could not be written: "
            "UnknownError: [Error -1] UnknownError (rejected record "  # aiokafka's name for the
            f"'{topics['input']}' partition 0 offset {bad} left unacknowledged)"  # broker's
        ) in line, line  # INVALID_RECORD ("Compacted topic cannot accept message without key")
        assert committed(kafka_bootstrap, group, topics["input"]) == bad  # not past the record
        assert records(kafka_bootstrap, topics["dlq"]) == []
        if attempt == 0:
            worker = start_worker(topics, group)


# --- the hostile corpus: infinite batch weights, duplicate keys and every other class ----------
def test_the_hostile_corpus_is_dead_lettered_and_good_records_flow_around_it(
    kafka_bootstrap: str,
    poison_topics: Callable[..., dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    unique_name: Callable[[str], str],
) -> None:
    """Every class of ``tests/hostile_corpus.py`` (a batch weight of ``1e999``, duplicate keys
    at any level, ...) with a good record after each: the worker stays up, each bad record is
    in the DLQ with its reason in order, the good ones are processed and every delta is valid."""
    cases = list(hostile_cases(GRAPH, CORPUS_LIMITS))
    good = good_records(GRAPH, CORPUS_LIMITS)
    items: list[Item] = []
    for i, case in enumerate(cases):
        items += [(case.kafka_key(GRAPH), case.value), (GRAPH.encode(), good[i % len(good)])]
    topics = poison_topics()
    worker = start_worker(
        topics,
        unique_name("group"),
        record_max_bytes=str(CORPUS_LIMITS.max_record_bytes),
        record_max_updates=str(CORPUS_LIMITS.max_record_updates),
    )
    offsets = send(kafka_bootstrap, topics["input"], items)
    wait_covered(worker, kafka_bootstrap, topics["deltas"], {GRAPH: offsets[-1]})
    worker.wait_until(
        lambda: len(records(kafka_bootstrap, topics["dlq"])) >= len(cases), 60, "every dead letter"
    )
    letters = sorted(
        (read_dlq_headers(m.headers()) for m in records(kafka_bootstrap, topics["dlq"])),
        key=lambda h: int(h["sparsiflow.source_offset"]),
    )  # the DLQ's partitions follow the record keys
    assert [h["sparsiflow.reason"] for h in letters] == [c.reason.value for c in cases]
    assert [int(h["sparsiflow.source_offset"]) for h in letters] == offsets[::2]
    for headers in letters:
        ENVELOPE_SCHEMA.validate(headers)
    assert worker.alive() and stop_reasons(worker) == []
