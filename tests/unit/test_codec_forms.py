"""One validator for every form of an input record, and duplicate keys.

The forms rule, stated: send some rows as single-update records (one per row) and as one
batch-form record (all rows). Each single record is accepted, or rejected by the first check of
``CHECK_ORDER`` it fails. The batch is accepted exactly when every single record is, with the
same updates in the same order. Otherwise it is rejected by the earliest check that any row
fails, at the first row failing it: the reason that row gets alone, and its message prefixed by
``row i:`` (the graph's checks are the record's: their message has no prefix). A row without
``w`` is a row whose ``w`` is null in a batch that has a ``w`` column; the batch has no ``w``
column when no row has one, and then its single records have none either.

Duplicate keys: a record with an object (at any depth) holding a key twice, however the keys
are written (escapes included), is rejected with ``duplicate_key``; any other is not.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from hostile_corpus import good_records, hostile_cases
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sparsiflow import schemas
from sparsiflow.connector.wire import edge_updates
from sparsiflow.connector.wire.edge_updates import (
    Decoded,
    DecodeLimits,
    assemble,
    decode,
    decode_run,
    encode_records,
)
from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.engine.graph.updates import UpdateBatch

CHECK_ORDER = [  # (reason, message pattern, whether the record's rather than a row's)
    (Reason.SCHEMA, r"graph must be a string", True),
    (Reason.SCHEMA, r"op must be a string", False),
    (Reason.SCHEMA, r"u must be an integer node id", False),
    (Reason.SCHEMA, r"v must be an integer node id", False),
    (Reason.SCHEMA, r"w must be a number or null", False),
    (Reason.SCHEMA, r"\w+ needs a weight w$", False),
    (Reason.BAD_GRAPH_ID, r"graph id ", True),
    (Reason.UNKNOWN_OP, r"unknown op ", False),
    (Reason.BAD_NODE_ID, r"u: node id ", False),
    (Reason.BAD_NODE_ID, r"v: node id ", False),
    (Reason.SELF_LOOP, r"self-loop on node ", False),
    (Reason.BAD_WEIGHT, r"w must be finite and > 0, got ", False),
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # a row without w

_valid_ops = st.sampled_from(["insert", "delete", "reweight"])
_ops = st.one_of(_valid_ops, st.sampled_from(["upsert", "INSERT", "", 0, None, True, 1.5, ["x"]]))
_ids: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-2, max_value=5),
    st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30, 10**400]),
    st.sampled_from([0.0, -0.0, 3.0, 2.5, 1e19, 9.2e18, -1.0, math.inf, -math.inf, math.nan]),
    st.sampled_from([True, False, None, "1", [1], {}]),
)
_weights = st.one_of(
    st.just(MISSING),
    st.none(),
    st.floats(),  # NaN, infinities, -0.0, subnormals
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([0, 0.0, -0.0, 10**400, -(10**400), 2**64, 1e308, 5e-324, 1e-400]),
    st.sampled_from([True, False, "1", [1.0]]),
)
_good_weights = st.one_of(st.floats(min_value=1e-3, max_value=1e3), st.integers(1, 9))
_valid_rows = st.one_of(
    st.tuples(_valid_ops, st.integers(0, 4), st.integers(5, 9), _good_weights),
    st.tuples(
        st.just("delete"), st.integers(0, 4), st.integers(5, 9), st.sampled_from([MISSING, None])
    ),
)
_any_rows = st.tuples(_ops, _ids, _ids, _weights)
_typed_ids = st.one_of(
    st.integers(min_value=-2, max_value=5),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30, 1e19, -0.0, 4.0]),
)
_typed_weights = st.one_of(
    st.just(MISSING),
    st.none(),
    st.floats(),
    st.sampled_from([0, -0.0, -1, 10**400, 5e-324, 2**64]),
)
_typed_rows = st.tuples(  # the types right, the values anything
    st.sampled_from(["insert", "delete", "reweight", "upsert"]), _typed_ids, _typed_ids,
    _typed_weights,
)  # fmt: skip
_weight_rows = st.tuples(_valid_ops, st.integers(0, 4), st.integers(5, 9), _typed_weights)
_rows = st.one_of(
    st.lists(_valid_rows, min_size=1, max_size=5),
    st.lists(st.one_of(_valid_rows, _weight_rows), min_size=1, max_size=5),
    st.lists(st.one_of(_valid_rows, _valid_rows, _typed_rows), min_size=1, max_size=5),
    st.lists(st.one_of(_valid_rows, _typed_rows, _any_rows), min_size=1, max_size=5),
    st.lists(_any_rows, min_size=1, max_size=5),
)
_graphs = st.one_of(
    st.just("g1"),
    st.sampled_from(["g1", "u", "w", "ops", "graph", "a/b", "", "x" * 65, "é", 7, None]),
)


def check_index(rejected: Rejected) -> int:
    """The place in ``CHECK_ORDER`` of the check that gave ``rejected``."""
    found = [
        i
        for i, (reason, pattern, _) in enumerate(CHECK_ORDER)
        if rejected.reason is reason and re.match(pattern, rejected.message)
    ]
    assert len(found) == 1, rejected
    return found[0]


def dumps(doc: dict[str, Any], infinity_as_1e999: bool) -> bytes:
    raw = json.dumps(doc).encode()  # NaN, Infinity and big integers as lenient encoders write
    return raw.replace(b"Infinity", b"1e999") if infinity_as_1e999 else raw


def forms(
    graph: Any, rows: list[tuple[Any, Any, Any, Any]], infinity_as_1e999: bool
) -> tuple[list[bytes], bytes]:
    """The single records of ``rows`` and their batch record."""
    has_w = any(w is not MISSING for *_, w in rows)
    singles = []
    for op, u, v, w in rows:
        doc = {"graph": graph, "op": op, "u": u, "v": v}
        if has_w:
            doc["w"] = None if w is MISSING else w
        singles.append(dumps(doc, infinity_as_1e999))
    batch: dict[str, Any] = {
        "graph": graph,
        "ops": [r[0] for r in rows],
        "u": [r[1] for r in rows],
        "v": [r[2] for r in rows],
    }
    if has_w:
        batch["w"] = [None if r[3] is MISSING else r[3] for r in rows]
    return singles, dumps(batch, infinity_as_1e999)


def assert_same_updates(a: UpdateBatch, b: UpdateBatch) -> None:
    for name in ("ops", "u", "v", "w"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y)  # NaN equals NaN here


@settings(max_examples=1500, deadline=None)
@given(_graphs, _rows, st.booleans())
def test_single_and_batch_forms_give_the_same_outcome(
    graph: Any, rows: list[tuple[Any, Any, Any, Any]], infinity_as_1e999: bool
) -> None:
    singles_raw, batch_raw = forms(graph, rows, infinity_as_1e999)
    singles = [decode(raw) for raw in singles_raw]
    batch = decode(batch_raw)
    for result in [*singles, batch]:
        assert not isinstance(result, Rejected) or result.reason is not Reason.DECODER_ERROR, result
    accepted = [s for s in singles if isinstance(s, Decoded)]
    event("accepted" if isinstance(batch, Decoded) else f"rejected: {batch.reason.value}")
    if len(accepted) == len(singles):
        assert isinstance(batch, Decoded), (batch, batch_raw)
        assert batch.graph == graph
        assert_same_updates(batch.updates, assemble(accepted))
        return
    assert isinstance(batch, Rejected), (batch_raw, singles)
    k, i = min((check_index(s), i) for i, s in enumerate(singles) if isinstance(s, Rejected))
    first = singles[i]
    assert isinstance(first, Rejected)
    record_level = CHECK_ORDER[k][2]
    assert batch == Rejected(
        first.reason, first.message if record_level else f"row {i}: {first.message}"
    )


def expected_run(values: list[bytes], graph: str) -> UpdateBatch | None:
    """What ``decode_run`` must give: the records' rows when each is a single-update record of
    ``graph`` that ``decode`` accepts, else None."""
    decoded = [decode(value) for value in values]
    if all(isinstance(d, Decoded) and d.row is not None and d.graph == graph for d in decoded):
        return assemble(decoded)  # type: ignore[arg-type]
    return None


def assert_run(values: list[bytes], graph: str) -> None:
    expected, got = expected_run(values, graph), decode_run(values, graph)
    assert (got is None) == (expected is None), values
    if expected is not None and got is not None:
        assert_same_updates(got, expected)


@settings(max_examples=1000, deadline=None)
@given(_graphs, _rows, st.booleans())
def test_a_run_of_single_records_decodes_as_its_records_do(
    graph: Any, rows: list[tuple[Any, Any, Any, Any]], infinity_as_1e999: bool
) -> None:
    singles, _ = forms(graph, rows, infinity_as_1e999)
    assert_run(singles, "g1")
    event("taken" if expected_run(singles, "g1") is not None else "one by one")


def test_a_run_holding_any_other_record_is_decoded_one_by_one() -> None:
    good = [v for v in good_records() if decode(v).row is not None]  # type: ignore[union-attr]
    assert len(good) >= 10
    assert_run(good, "g1")
    assert decode_run(good, "g1") is not None
    for case in hostile_cases():
        for at in (0, len(good) // 2, len(good)):
            assert_run([*good[:at], case.value, *good[at:]], "g1")
    assert decode_run(good, "g2") is None
    assert decode_run([*good, None], "g1") is None
    assert decode_run(good, "g1", DecodeLimits(max_record_bytes=64)) is None  # one is longer


@pytest.mark.parametrize("infinity", [b"1e999", b"Infinity", b"-1e999", b"NaN", b"1" + b"0" * 400])
def test_a_weight_beyond_doubles_is_refused_in_both_forms(infinity: bytes) -> None:
    single = b'{"graph": "g1", "op": "insert", "u": 1, "v": 2, "w": %s}' % infinity
    batch = b'{"graph": "g1", "ops": ["insert"], "u": [1], "v": [2], "w": [%s]}' % infinity
    a, b = decode(single), decode(batch)
    assert isinstance(a, Rejected) and a.reason is Reason.BAD_WEIGHT
    assert b == Rejected(Reason.BAD_WEIGHT, f"row 0: {a.message}")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"graph": "evil", "graph": "g1", "op": "delete", "u": 1, "v": 2}', "duplicate_key"),
        (b'{"graph": "g1", "op": "delete", "u": 1, "v": 2, "\\u0067raph": "x"}', "duplicate_key"),
        (b'{"\\u0067raph": "g1", "\\u0067\\u0072aph": "x", "op": "delete", "u": 1, "v": 2}',
         "duplicate_key"),
        (b'{"graph": "g1", "op": "insert", "u": 1, "v": 2, "w": NaN, "w": 1}', "duplicate_key"),
        (b'{"graph": "a:b", "graph": "g1", "op": "delete", "u": 1, "v": 2}', "duplicate_key"),
        (b'{"graph": "g1", "ops": ["delete"], "u": [{"a": {"b": 1, "b": 1}}], "v": [2]}',
         "duplicate_key"),
        (b'[{"a": 1}, {"a": 1, "a": 1}]', "duplicate_key"),
        (b'{"graph": "g1", "ops": ["delete"], "u": [{"a": 1, "b": 1}], "v": [2]}', "schema"),
        (b'{"graph": "g1", "ops": ["graph"], "u": [1], "v": [2], "w": [1]}', "unknown_op"),
        (b'{"graph": "a:b", "op": "delete", "u": 1, "v": 2}', "bad_graph_id"),
        (b'{"graph": "g1", "op": "delete:", "u": 1, "v": 2}', "unknown_op"),
        (b'[{"a": 1}, {"a": 1}]', "schema"),
        (b'"graph:graph"', "schema"),
    ],
)  # fmt: skip
def test_duplicate_keys_are_refused_at_any_depth(raw: bytes, reason: str) -> None:
    result = decode(raw)
    assert isinstance(result, Rejected) and result.reason == reason, result


@pytest.mark.parametrize("graph", ["u", "v", "w", "op", "ops", "graph"])
def test_a_graph_named_like_a_key_is_no_duplicate(graph: str) -> None:
    for raw in (
        b'{"graph": "%s", "op": "insert", "u": 1, "v": 2, "w": 1}' % graph.encode(),
        b'{"graph": "%s", "ops": ["delete"], "u": [1], "v": [2]}' % graph.encode(),
    ):
        result = decode(raw)
        assert isinstance(result, Decoded) and result.graph == graph, result


class Obj(tuple[tuple[str, bool, Any], ...]):
    """A JSON object as written: (key, written with escapes, value) in order."""


_keys = st.sampled_from(["graph", "op", "ops", "u", "v", "w", "a", "", "é", ":", '"', "\\", "k:"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["graph", "u", '"u":', ":", "a:b", '{"a": 1, "a": 2}']),
    st.text(max_size=5),
)
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_keys, st.booleans(), inner), max_size=4).map(Obj),
    ),
    max_leaves=12,
)


def write(node: Any, spaced: bool) -> str:
    colon = " : " if spaced else ":"
    if isinstance(node, Obj):
        members = (f"{_key(k, escaped)}{colon}{write(v, spaced)}" for k, escaped, v in node)
        return "{" + ", ".join(members) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(write(x, spaced) for x in node) + "]"
    return json.dumps(node)


def _key(key: str, escaped: bool) -> str:
    return '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"' if escaped else json.dumps(key)


def has_duplicate(node: Any) -> bool:
    if isinstance(node, Obj):
        keys = [k for k, _, _ in node]
        return len(set(keys)) < len(keys) or any(has_duplicate(v) for _, _, v in node)
    if isinstance(node, list):
        return any(has_duplicate(x) for x in node)
    return False


@settings(max_examples=800, deadline=None)
@given(_trees, st.booleans())
def test_a_duplicate_key_is_found_however_deep_and_however_written(tree: Any, spaced: bool) -> None:
    raw = write(tree, spaced).encode()
    result = decode(raw)
    duplicate = isinstance(result, Rejected) and result.reason is Reason.DUPLICATE_KEY
    event(f"duplicate: {duplicate}")
    assert duplicate == has_duplicate(tree), (raw, result)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["graph", "op", "u", "v", "w", "x"]), st.booleans(),
                          st.sampled_from(["g1", "u", "insert", 1, 2, 1.5, None])),
                min_size=1, max_size=7).map(Obj))  # fmt: skip
def test_event_shaped_objects_with_repeated_keys(tree: Obj) -> None:
    result = decode(write(tree, False).encode())
    duplicate = isinstance(result, Rejected) and result.reason is Reason.DUPLICATE_KEY
    assert duplicate == has_duplicate(tree), result


def _valid_records() -> list[bytes]:
    records = [s.read_bytes() for s in schemas.samples("edge-update", "good")]
    records += [*good_records(), _big()]
    decoded = [d for d in map(decode, records) if isinstance(d, Decoded)]
    for d in decoded:
        records += [v for v, _ in encode_records(d.graph, d.updates, "single")]
        records += [v for v, _ in encode_records(d.graph, d.updates, "batch")]
    return records


def test_valid_records_never_take_the_slow_duplicate_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid record has as many colons as keys: the standard parser never runs for it."""

    def slow(value: bytes) -> Rejected | None:
        raise AssertionError(f"slow duplicate check for {value[:80]!r}")

    monkeypatch.setattr(edge_updates, "_duplicate_key", slow)
    for raw in _valid_records():
        assert isinstance(decode(raw), Decoded), raw


def _big(graph: str = "g1", extra: str = "", rows: int = 500) -> bytes:
    """A batch record of some kilobytes (the duplicate check jumps from colon to colon there)."""
    doc = {"graph": graph, "ops": ["delete"] * rows, "u": list(range(rows))}
    doc["v"] = list(range(1, rows + 1))
    return json.dumps(doc)[:-1].encode() + extra.encode() + b"}"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_big(), None),
        (_big(extra=', "u": [0]'), Reason.DUPLICATE_KEY),
        (_big(extra=', "w": [{"a": 1, "a": 1}]'), Reason.DUPLICATE_KEY),
        (
            _big(extra="".join(f', "x{i}": 1' for i in range(12)) + ', "x0": 2'),
            Reason.DUPLICATE_KEY,
        ),
        (_big(extra="".join(f', "x{i}": 1' for i in range(12))), Reason.SCHEMA),
        (_big(graph="a:b"), Reason.BAD_GRAPH_ID),
    ],
)
def test_duplicate_keys_in_big_records(raw: bytes, reason: Reason | None) -> None:
    assert len(raw) > 4096
    result = decode(raw)
    if reason is None:
        assert isinstance(result, Decoded) and len(result) == 500
    else:
        assert isinstance(result, Rejected) and result.reason is reason, result
