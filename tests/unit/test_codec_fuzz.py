"""Fuzzing the decoder with hypothesis: arbitrary bytes, arbitrary JSON values (NaN, infinity,
huge integers, deep nesting included), event-shaped objects with values of any type, and byte
mutations of valid records. The decoder never raises; every input is a valid batch or a
rejection whose reason is a contract reason (never the catch-all for decoder bugs), and that
rejection makes a DLQ record with a contract-valid envelope."""

from __future__ import annotations

import json
from typing import Any

import orjson
from contract_oracle import validator
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsiflow.connector.stream.records import InputRecord
from sparsiflow.connector.wire.dead_letters import dlq_record, read_dlq_headers
from sparsiflow.connector.wire.edge_updates import Decoded, DecodeLimits, decode
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.graph.updates import UpdateBatch

LIMITS = DecodeLimits(max_record_bytes=4096, max_record_updates=50)
KEYS = ["graph", "op", "ops", "u", "v", "w", "weight", ""]
VALID = [
    b'{"graph": "g1", "op": "insert", "u": 3, "v": 9, "w": 1.5}',
    b'{"graph": "g1", "op": "delete", "u": 3, "v": 9}',
    b'{"graph": "g.x", "ops": ["insert", "delete", "reweight"], "u": [0, 1, 2], '
    b'"v": [1, 2, 0], "w": [1.0, null, 2.5]}',
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(),  # NaN and infinities are written as the tokens lenient encoders use
    st.text(max_size=12),
    st.sampled_from(["insert", "delete", "reweight", "g1", "", "-g"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=30,
)
small_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
events = st.dictionaries(st.sampled_from(KEYS), small_values, max_size=7)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid record with random bytes replaced, inserted, dropped or cut off."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "drop", "cut"]))
        byte = draw(st.integers(min_value=0, max_value=255))
        if kind == "replace" and at < len(data):
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        elif kind == "drop" and at < len(data):
            del data[at]
        else:
            del data[at:]
    return bytes(data)


def check(raw: bytes | None) -> None:
    result = decode(raw, LIMITS)
    if isinstance(result, Decoded):
        updates = result.updates
        assert 1 <= len(updates) <= LIMITS.max_record_updates
        UpdateBatch.build(updates.ops, updates.u, updates.v, updates.w)  # the engine's rule
        return
    assert isinstance(result, Rejected)
    assert result.reason in Reason and result.reason is not Reason.DECODER_ERROR
    assert result.message
    record = InputRecord("in", 0, 7, 0.0, b"g1", raw)
    dlq = dlq_record("dlq", record, result, 1.0)
    headers = read_dlq_headers(dlq.headers)
    assert validator("dlq-envelope").is_valid(headers), headers
    assert headers["sparsiflow.reason"] == result.reason.value
    assert dlq.value == (raw or b"")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=300)))
def test_arbitrary_bytes(raw: bytes | None) -> None:
    check(raw)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    check(json.dumps(value).encode())


@settings(max_examples=400, deadline=None)
@given(events)
def test_event_shaped_objects_with_values_of_any_type(doc: dict[str, Any]) -> None:
    check(json.dumps(doc).encode())


@settings(max_examples=400, deadline=None)
@given(mutations())
def test_mutated_valid_records(raw: bytes) -> None:
    check(raw)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":', '[{"u":']))
def test_deep_nesting(depth: int, opener: str) -> None:
    check((opener * depth).encode())
    check(orjson.dumps({"graph": "g1", "op": "insert", "u": 1, "v": 2, "w": [[[1.0]]]}))
