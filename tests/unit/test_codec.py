"""The fast decoder agrees with the contract oracle on samples and on generated input."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest
from contract_oracle import accepts
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsiflow import schemas
from sparsiflow.connector.wire.edge_updates import (
    Decoded,
    DecodeLimits,
    assemble,
    decode,
    is_graph_id,
)
from sparsiflow.connector.wire.rejections import ErrorClass, Reason, Rejected
from sparsiflow.engine.graph.updates import Op, UpdateBatch


def _bad_samples() -> list[Any]:
    return [pytest.param(f, id=f.name) for f in schemas.samples("edge-update", "bad")]


def _good_samples() -> list[Any]:
    return [pytest.param(f, id=f.name) for f in schemas.samples("edge-update", "good")]


@pytest.mark.parametrize("sample", _bad_samples())
def test_bad_sample_gets_the_reason_in_its_name(sample: Any) -> None:
    result = decode(sample.read_bytes())
    assert isinstance(result, Rejected), result
    assert result.reason.value == sample.name.split("--")[0]
    assert result.message


@pytest.mark.parametrize("sample", _good_samples())
def test_good_sample_decodes_to_a_batch_build_accepts(sample: Any) -> None:
    result = decode(sample.read_bytes())
    assert isinstance(result, Decoded), result
    doc = json.loads(sample.read_text())
    assert result.graph == doc["graph"]
    b = result.updates
    rebuilt = UpdateBatch.build(b.ops, b.u, b.v, b.w)  # the engine's own validation agrees
    np.testing.assert_array_equal(rebuilt.u, b.u)
    assert len(b) == len(doc.get("ops", [None]))
    assert np.isnan(b.w[b.ops == Op.DELETE]).all()


def test_single_and_batch_forms_decode_alike() -> None:
    single = decode(b'{"graph":"g","op":"insert","u":1,"v":2,"w":0.5}')
    batch = decode(b'{"graph":"g","ops":["insert"],"u":[1],"v":[2],"w":[0.5]}')
    assert isinstance(single, Decoded) and isinstance(batch, Decoded)
    for name in ("ops", "u", "v", "w"):
        np.testing.assert_array_equal(getattr(single.updates, name), getattr(batch.updates, name))
        assert getattr(single.updates, name).dtype == getattr(batch.updates, name).dtype


def test_limits() -> None:
    limits = DecodeLimits(max_record_bytes=100, max_record_updates=3)
    four = orjson.dumps({"graph": "g", "ops": ["delete"] * 4, "u": [0] * 4, "v": [1] * 4})
    oversized = decode(four, limits)
    assert isinstance(oversized, Rejected) and oversized.reason is Reason.OVERSIZED_BATCH
    big = decode(b" " * 101, limits)
    assert isinstance(big, Rejected) and big.reason is Reason.OVERSIZED_RECORD
    assert isinstance(decode(four), Decoded)
    with pytest.raises(ValueError):
        DecodeLimits(max_record_updates=10**9)


def test_huge_record_is_rejected_without_parsing_every_row() -> None:
    n = 100_001
    raw = orjson.dumps({"graph": "g", "ops": ["insert"] * n, "u": [0] * n, "v": [1] * n})
    result = decode(raw)
    assert isinstance(result, Rejected) and result.reason is Reason.OVERSIZED_BATCH


@pytest.mark.parametrize(
    "raw", [None, b"", b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'"just a string"', b"12"]
)
def test_odd_bytes_are_rejections(raw: bytes | None) -> None:
    result = decode(raw)
    assert isinstance(result, Rejected)
    assert result.reason in (Reason.MALFORMED_JSON, Reason.SCHEMA)


def test_every_reason_has_an_error_class() -> None:
    assert {r.error_class for r in Reason} == set(ErrorClass)


def test_graph_ids() -> None:
    assert is_graph_id("a") and is_graph_id("road.eu-2024_v2") and is_graph_id("9" * 64)
    for bad in ("", "-a", ".a", "a/b", "a b", "é", "9" * 65, "a\n"):
        assert not is_graph_id(bad)


_ids = st.one_of(
    st.integers(min_value=-3, max_value=6),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 1),
    st.sampled_from([1.0, 2.5, -1.0, 1e19, True, None, "1"]),
)
_weights = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([None, True, "1", 0.0]),
)
_ops = st.sampled_from(["insert", "delete", "reweight", "upsert", 0, None])
_graphs = st.sampled_from(["g1", "road.eu-2", "", "a/b", 7])


@st.composite
def _events(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        doc = {"graph": _graphs, "op": _ops, "u": _ids, "v": _ids, "w": _weights}
    else:
        n = draw(st.integers(min_value=0, max_value=4))
        lengths = (
            st.integers(min_value=max(n - 1, 0), max_value=n + 1)
            if draw(st.booleans())
            else st.just(n)
        )
        doc = {
            "graph": _graphs,
            "ops": st.lists(_ops, min_size=n, max_size=n),
            "u": lengths.flatmap(lambda k: st.lists(_ids, min_size=k, max_size=k)),
            "v": st.lists(_ids, min_size=n, max_size=n),
            "w": st.lists(_weights, min_size=n, max_size=n),
        }
    keys = draw(st.lists(st.sampled_from([*doc, "extra"]), unique=True))
    return {k: draw(doc.get(k, st.just(1))) for k in keys}


@settings(max_examples=600, deadline=None)
@given(_events())
def test_decoder_agrees_with_the_contract_oracle(doc: Any) -> None:
    result = decode(orjson.dumps(doc))
    assert isinstance(result, Decoded) == accepts(doc), (doc, result)
    if isinstance(result, Rejected):
        assert result.reason is not Reason.DECODER_ERROR


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = decode(raw)
    assert isinstance(result, Decoded | Rejected)
    if isinstance(result, Rejected):
        assert result.reason is not Reason.DECODER_ERROR


def test_weights_of_delete_rows_are_nan_and_others_kept() -> None:
    raw = b'{"graph":"g","ops":["delete","insert"],"u":[1,2],"v":[3,4],"w":[5,6]}'
    result = decode(raw)
    assert isinstance(result, Decoded)
    assert math.isnan(result.updates.w[0]) and result.updates.w[1] == 6.0


def test_assemble_keeps_record_order_across_forms() -> None:
    raws = [
        b'{"graph":"g","op":"insert","u":1,"v":2,"w":1}',
        b'{"graph":"g","op":"delete","u":1,"v":2}',
        b'{"graph":"g","ops":["insert","reweight"],"u":[5,6],"v":[7,8],"w":[2,3]}',
        b'{"graph":"g","op":"reweight","u":9,"v":10,"w":4}',
    ]
    parts = [decode(r) for r in raws]
    assert all(isinstance(p, Decoded) for p in parts)
    batch = assemble([p for p in parts if isinstance(p, Decoded)])
    assert batch.u.tolist() == [1, 1, 5, 6, 9] and batch.v.tolist() == [2, 2, 7, 8, 10]
    assert batch.ops.tolist() == [Op.INSERT, Op.DELETE, Op.INSERT, Op.REWEIGHT, Op.REWEIGHT]
    np.testing.assert_array_equal(batch.w, [1, np.nan, 2, 3, 4])
    assert batch.ops.dtype == np.int8 and batch.u.dtype == np.int64
    assert sum(len(p) for p in parts if isinstance(p, Decoded)) == 5
