"""Delta, metrics and DLQ records satisfy their schemas."""

from __future__ import annotations

import numpy as np
import orjson
from contract_oracle import validator

from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.dead_letters import dlq_record, read_dlq_headers
from sparsiflow.connector.wire.deltas import SourceRange, encode_delta
from sparsiflow.connector.wire.metrics_events import Kappa, decode_metrics, encode_metrics
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.results import BatchReport, Delta, GraphStats, KappaReading


def _delta() -> Delta:
    i = np.array
    return Delta(
        added_u=i([0, 1]),
        added_v=i([1, 2**63 - 1]),
        added_w=i([1.5, 2.0]),
        removed_u=i([3]),
        removed_v=i([4]),
        reweighted_u=i([5]),
        reweighted_v=i([6]),
        reweighted_w=i([0.25]),
    )


def test_delta_event_matches_schema_and_delta() -> None:
    raw = encode_delta("g1", 4, SourceRange(2, 10, 19), _delta(), 1767225600.5)
    doc = orjson.loads(raw)
    assert validator("sparsifier-delta").is_valid(doc)
    assert doc["added"] == [[0, 1, 1.5], [1, 2**63 - 1, 2.0]]
    assert doc["removed"] == [[3, 4]] and doc["reweighted"] == [[5, 6, 0.25]]
    assert doc["source"] == {"partition": 2, "first_offset": 10, "last_offset": 19}
    empty = orjson.loads(encode_delta("g1", 0, SourceRange(0, 0, 0), Delta(), 1.0))
    assert validator("sparsifier-delta").is_valid(empty)


def test_metrics_event_matches_schema() -> None:
    report = BatchReport(
        batch=3,
        delta=_delta(),
        stats=GraphStats(nodes=10, edges_graph=20, edges_sparsifier=12, components=1),
        inserted=5,
        deleted=1,
        critical=2,
        repaired=1,
        seconds={"insert": 0.01, "delete": 0.02},
    )
    for kappa in (None, Kappa(12.5, "lanczos")):
        doc = orjson.loads(encode_metrics("g1", report, 0.04, kappa, 1767225600.5))
        assert validator("quality-metrics").is_valid(doc), doc
        assert doc["engine_seconds"] == 0.03 and doc["density"] == 1.2
        assert doc["off_tree_density"] == (12 - 9) / 10
        assert (doc["kappa"] is None) == (kappa is None)


def test_metrics_event_carries_what_the_check_found_before_its_recoveries() -> None:
    """A check that found H above its target and recovered edges publishes both values: the
    estimate before (``kappa_before``, what kappa was while it ran) and after (``kappa``)."""
    reading = KappaReading(batch=7, value=98.6, before=151.1, recovered=9, seconds=0.4)
    report = BatchReport(
        batch=9,
        delta=_delta(),
        stats=GraphStats(nodes=10, edges_graph=20, edges_sparsifier=12, components=1),
        kappa=reading,
    )
    raw = encode_metrics("g1", report, 0.04, Kappa.of(reading), 1767225600.5)
    doc = orjson.loads(raw)
    assert validator("quality-metrics").is_valid(doc), doc
    assert (doc["kappa"], doc["kappa_before"], doc["kappa_batch"]) == (98.6, 151.1, 7)
    event = decode_metrics(raw)
    assert (event.kappa, event.kappa_before) == (98.6, 151.1)
    failed = KappaReading(batch=7, value=None, before=None, recovered=0, seconds=0.1,
                          reason="numerical_breakdown: x")  # fmt: skip
    doc = orjson.loads(encode_metrics("g1", report, 0.04, Kappa.of(failed), 1767225600.5))
    assert doc["kappa"] is None and doc["kappa_before"] is None
    older = {k: v for k, v in orjson.loads(raw).items() if k != "kappa_before"}
    assert decode_metrics(orjson.dumps(older)).kappa_before is None  # events written before


def test_dlq_record_keeps_the_original_and_names_the_reason() -> None:
    record = InputRecord(
        topic="in",
        partition=3,
        offset=1041,
        timestamp=1.0,
        key=b"g1",
        value=b'{"graph":"g1","op":"insert","u":3,"v":3,"w":1}',
        headers=[("traceparent", b"00-ab"), ("sparsiflow.reason", b"spoofed")],
    )
    out = dlq_record("in.dlq", record, Rejected(Reason.SELF_LOOP, "x" * 900), 1767225601.5)
    assert (out.topic, out.key, out.value) == ("in.dlq", b"g1", record.value)
    headers = read_dlq_headers(out.headers)
    assert validator("dlq-envelope").is_valid(headers), headers
    assert headers["traceparent"] == "00-ab"
    assert headers["sparsiflow.reason"] == "self_loop"
    assert headers["sparsiflow.error_class"] == "InvalidUpdate"
    assert headers["sparsiflow.source_partition"] == "3"
    assert headers["sparsiflow.source_offset"] == "1041"
    assert len(headers["sparsiflow.message"]) == 500
    assert [k for k, _ in out.headers].count("sparsiflow.reason") == 1
