"""Every class of the hostile corpus (``tests/hostile_corpus.py``) gets its reason, from the
decoder (plus the processor's key rule) and from the processor itself, and the valid records
interleaved with them still go through."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from hostile_corpus import CORPUS_LIMITS, GRAPH, HostileCase, good_records, hostile_cases
from test_processor import Clock, Log, make

from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.dead_letters import read_dlq_headers
from sparsiflow.connector.wire.edge_updates import Decoded, DecodeLimits, decode
from sparsiflow.connector.wire.rejections import Reason, Rejected

CASES = list(hostile_cases())


def outcome(case: HostileCase, graph: str = GRAPH, limits: DecodeLimits = CORPUS_LIMITS) -> str:
    """The reason the worker gives the case: the decoder's, else the key rule's (the record key
    must be the graph id's UTF-8 bytes, see ``Processor._route``); ``accepted`` when none."""
    decoded = decode(case.value, limits)
    if isinstance(decoded, Rejected):
        assert decoded.message, case.name
        return decoded.reason.value
    if case.kafka_key(graph) != decoded.graph.encode():
        return Reason.KEY_MISMATCH.value
    return "accepted"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_hostile_case_gets_its_reason(case: HostileCase) -> None:
    assert outcome(case) == case.reason


def test_the_corpus_covers_every_class_of_bad_input() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({(c.value, c.kafka_key()) for c in CASES}) == len(CASES)
    routing = {Reason.UNKNOWN_GRAPH, Reason.TOO_MANY_GRAPHS, Reason.WRONG_PARTITION,
               Reason.CONFLICTING_LOG}  # fmt: skip
    assert {c.reason for c in CASES} == set(Reason) - routing - {Reason.DECODER_ERROR}


def test_the_corpus_follows_its_graph_and_limits() -> None:
    """Another graph id and the worker's default limits (as an integration test may use)."""
    graph, limits = "road.eu-2", DecodeLimits()
    for case in hostile_cases(graph, limits):
        assert outcome(case, graph, limits) == case.reason, case.name
    for value in good_records(graph, limits):
        decoded = decode(value, limits)
        assert isinstance(decoded, Decoded) and decoded.graph == graph


def test_valid_records_interleaved_with_the_corpus_still_decode() -> None:
    good = good_records()
    for i, case in enumerate(CASES):
        value = good[i % len(good)]
        assert outcome(case) == case.reason
        decoded = decode(value, CORPUS_LIMITS)
        assert isinstance(decoded, Decoded) and decoded.graph == GRAPH, value
        assert len(decoded.updates) == len(decoded)


def test_the_processor_dead_letters_each_case_and_processes_the_records_around_them() -> None:
    """The whole corpus through the processor (the worker's default limits), a valid record
    after each case: every case is dead-lettered with its reason, in order, and every record is
    acknowledged once the deltas covering the valid ones are delivered."""
    limits = DecodeLimits()
    cases, good = list(hostile_cases(GRAPH, limits)), good_records(GRAPH, CORPUS_LIMITS)
    records: list[InputRecord] = []
    for i, case in enumerate(cases):
        for key, value in ((case.kafka_key(), case.value), (GRAPH.encode(), good[i % len(good)])):
            offset = len(records)
            records.append(InputRecord("in", 0, offset, 999.5, key, value, handle=offset))
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=64)

    async def run() -> None:
        for record in records:
            await proc.on_record(record)
        await proc.drain()

    asyncio.run(run())
    dead = log.delivered("dlq")
    reasons = [read_dlq_headers(r.headers)["sparsiflow.reason"] for r in dead]
    assert reasons == [c.reason.value for c in cases]
    assert sorted(log.acked()) == list(range(len(records)))  # type: ignore[type-var]
    deltas = [orjson.loads(r.value or b"") for r in log.delivered("deltas")]
    assert [d["batch"] for d in deltas] == list(range(len(deltas)))
    assert deltas[-1]["source"]["last_offset"] == len(records) - 1
