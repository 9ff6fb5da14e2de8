"""A corpus of hostile input records: the classes of bad record a producer (or anyone who can
write to the input topic) can send, each with the reason the worker must give it, and valid
records to interleave with them. No record may stop, block or poison the stream: each bad one
goes to the DLQ with its reason and the good ones around it are processed.

Used by ``tests/unit/test_hostile_corpus.py`` (decoder and processor) and meant for integration
tests that send it through a real broker::

    from hostile_corpus import CORPUS_LIMITS, good_records, hostile_cases

    for case in hostile_cases("g1"):
        produce(topic, key=case.kafka_key("g1"), value=case.value)  # expect case.reason

A case's ``key`` is the record key: None means the graph id passed to :func:`hostile_cases`
(every case names that graph when it names a valid one), and ``null_key`` a record without a
key. The cases sized by limits (``oversized_record``, ``oversized_batch``) follow the limits
given to :func:`hostile_cases`: the worker must run with the same ones
(``SPARSIFLOW_RECORD_MAX_BYTES``, ``SPARSIFLOW_RECORD_MAX_UPDATES``). No case has a null value:
a record without value is a tombstone (it drops the graph its key names), not a bad record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from sparsiflow.connector.wire.edge_updates import DecodeLimits
from sparsiflow.connector.wire.rejections import Reason

__all__ = ["CORPUS_LIMITS", "GRAPH", "HostileCase", "good_records", "hostile_cases"]

GRAPH = "g1"
CORPUS_LIMITS = DecodeLimits(max_record_bytes=64 * 1024, max_record_updates=100)
"""Limits the corpus is written for: small, so the oversized cases stay small."""

_DROP = object()  # a field to leave out


class HostileCase(NamedTuple):
    """One class of bad record: its name, value, key (None: the graph id) and reason."""

    name: str
    value: bytes
    key: bytes | None
    reason: Reason
    null_key: bool = False

    def kafka_key(self, graph: str = GRAPH) -> bytes | None:
        """The record key to send the case with."""
        if self.null_key:
            return None
        return graph.encode() if self.key is None else self.key


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()  # NaN and infinities as the tokens lenient encoders write


def _single(graph: str, /, **fields: Any) -> bytes:
    doc = {"graph": graph, "op": "insert", "u": 3, "v": 9, "w": 1.5} | fields
    return _dumps({k: v for k, v in doc.items() if v is not _DROP})


def _batch(graph: str, /, **fields: Any) -> bytes:
    doc = {
        "graph": graph,
        "ops": ["insert", "delete", "reweight"],
        "u": [0, 1, 2],
        "v": [1, 2, 3],
        "w": [1.0, None, 2.5],
    } | fields
    return _dumps({k: v for k, v in doc.items() if v is not _DROP})


def _raw(text: str, graph: str) -> bytes:
    """``text`` with ``G`` standing for the quoted graph id."""
    return text.replace("G", json.dumps(graph)).encode()


def hostile_cases(
    graph: str = GRAPH, limits: DecodeLimits = CORPUS_LIMITS
) -> Iterator[HostileCase]:
    """Every class of bad record, for records of ``graph`` and a worker with ``limits``."""
    g = graph
    good = _single(g)
    head = good[:-1].decode()  # the record without its closing brace

    def case(name: str, value: bytes, reason: Reason, key: bytes | None = None) -> HostileCase:
        return HostileCase(name, value, key, reason)

    malformed = Reason.MALFORMED_JSON
    yield case("empty-value", b"", malformed)
    yield case("whitespace-only", b" \t\r\n ", malformed)
    yield case("not-json", b"insert 3 9 1.5", malformed)
    yield case("truncated", good[:-7], malformed)
    yield case(
        "unterminated-string", _raw('{"graph": "x, "op": "delete", "u": 1, "v": 2}', g), malformed
    )
    yield case("trailing-garbage", good + b" x", malformed)
    yield case("two-objects", good + good, malformed)
    yield case("trailing-comma", (head + ",}").encode(), malformed)
    yield case("single-quotes", good.replace(b'"', b"'"), malformed)
    yield case("unquoted-keys", _raw('{graph: G, op: "delete", u: 1, v: 2}', g), malformed)
    yield case("comment", (head + " /* w */}").encode(), malformed)
    yield case(
        "python-literals",
        _raw('{"graph": G, "op": "delete", "u": 1, "v": 2, "w": None}', g),
        malformed,
    )
    yield case("latin-1-bytes", good.replace(b'"op"', b'"op\xe9"'), malformed)
    yield case("stray-continuation-byte", good.replace(b'"insert"', b'"insert\x80"'), malformed)
    yield case("overlong-utf-8", good.replace(b'"insert"', b'"\xc0\xafinsert"'), malformed)
    yield case("utf-8-bom", b"\xef\xbb\xbf" + good, malformed)
    yield case("utf-16", good.decode().encode("utf-16"), malformed)
    yield case("raw-control-character", good.replace(b'"insert"', b'"ins\x01ert"'), malformed)
    yield case("nul-after-document", good + b"\x00", malformed)
    yield case("deep-nesting", b"[" * 5000 + b"]" * 5000, malformed)
    yield case("leading-zero", _raw('{"graph": G, "op": "delete", "u": 01, "v": 2}', g), malformed)
    yield case("hex-number", _raw('{"graph": G, "op": "delete", "u": 0x10, "v": 2}', g), malformed)
    yield case(
        "plus-sign", _raw('{"graph": G, "op": "insert", "u": 1, "v": 2, "w": +1.5}', g), malformed
    )
    yield case(
        "bare-fraction", _raw('{"graph": G, "op": "insert", "u": 1, "v": 2, "w": .5}', g), malformed
    )
    digits = "9" * 5000  # beyond what any JSON parser here reads as a number
    yield case(
        "node-id-of-5000-digits",
        _raw('{"graph": G, "op": "delete", "u": ' + digits + ', "v": 2}', g),
        malformed,
    )

    duplicate = Reason.DUPLICATE_KEY
    yield case(
        "duplicate-graph-last-is-the-key",
        _raw('{"graph": "evil", "graph": G, "op": "delete", "u": 1, "v": 2}', g),
        duplicate,
    )
    yield case(
        "duplicate-graph-first-is-the-key",
        _raw('{"graph": G, "graph": "evil", "op": "delete", "u": 1, "v": 2}', g),
        duplicate,
    )
    yield case(
        "duplicate-escaped-key",
        _raw('{"graph": G, "op": "delete", "u": 1, "v": 2, "\\u0067raph": "evil"}', g),
        duplicate,
    )
    yield case("duplicate-equal-values", (head + ', "w": 1.5}').encode(), duplicate)
    yield case(
        "duplicate-in-batch",
        _raw(
            '{"graph": G, "ops": ["delete"], "ops": ["insert"], "u": [1], "v": [2], "w": [1.0]}', g
        ),
        duplicate,
    )
    yield case(
        "duplicate-in-nested-object",
        _raw('{"graph": G, "ops": ["delete"], "u": [{"a": 1, "a": 2}], "v": [2]}', g),
        duplicate,
    )
    yield case("duplicate-unknown-field", (head + ', "x": 1, "x": 2}').encode(), duplicate)

    schema = Reason.SCHEMA
    yield case("top-level-array", b"[" + good + b"]", schema)
    yield case("top-level-string", json.dumps(g).encode(), schema)
    yield case("top-level-number", b"42", schema)
    yield case("top-level-null", b"null", schema)
    yield case("empty-object", b"{}", schema)
    yield case("missing-graph", _single(g, graph=_DROP), schema)
    yield case("null-graph", _single(g, graph=None), schema)
    yield case("graph-number", _single(g, graph=7), schema)
    yield case("graph-array", _single(g, graph=[g]), schema)
    yield case("unknown-field", _single(g, w=_DROP, weight=1.5), schema)
    yield case("version-field", _single(g, version=2), schema)
    yield case("key-name-case", _single(g).replace(b'"graph"', b'"Graph"'), schema)
    yield case("both-forms", _single(g, ops=["insert"]), schema)
    yield case("op-number", _single(g, op=0), schema)
    yield case("op-null", _single(g, op=None), schema)
    yield case("node-id-string", _single(g, u="3"), schema)
    yield case("node-id-boolean", _single(g, u=True), schema)
    yield case("node-id-fraction", _single(g, u=2.5), schema)
    yield case("node-id-null", _single(g, v=None), schema)
    yield case("node-id-object", _single(g, v={}), schema)
    yield case(
        "node-id-infinite", _raw('{"graph": G, "op": "delete", "u": 1e400, "v": 2}', g), schema
    )
    yield case("node-id-nan", _single(g, u=float("nan")), schema)
    yield case("nested-arrays-as-node-id", _single(g, u=json.loads("[" * 500 + "]" * 500)), schema)
    yield case("weight-string", _single(g, w="1.5"), schema)
    yield case("weight-boolean", _single(g, w=True), schema)
    yield case("weight-array", _single(g, w=[1.5]), schema)
    yield case("insert-without-weight", _single(g, w=_DROP), schema)
    yield case("reweight-without-weight", _single(g, op="reweight", w=_DROP), schema)
    yield case("batch-insert-without-w-column", _batch(g, w=_DROP), schema)
    yield case("ops-not-an-array", _batch(g, ops="insert"), schema)
    yield case("u-not-an-array", _batch(g, u=0), schema)
    yield case("w-column-null", _batch(g, w=None), schema)
    yield case("empty-batch", _batch(g, ops=[], u=[], v=[], w=[]), schema)
    yield case("unequal-lengths", _batch(g, v=[1, 2]), schema)
    yield case("ops-element-null", _batch(g, ops=["insert", None, "reweight"]), schema)
    yield case("batch-node-id-boolean", _batch(g, u=[0, True, 2]), schema)
    yield case("batch-weight-string", _batch(g, w=[1.0, None, "2.5"]), schema)

    n = limits.max_record_updates + 1
    too_many = _batch(g, ops=["delete"] * n, u=list(range(n)), v=list(range(1, n + 1)), w=_DROP)
    assert len(too_many) <= limits.max_record_bytes, "the oversized batch must fit in a record"
    yield case("oversized-batch", too_many, Reason.OVERSIZED_BATCH)
    yield case(
        "oversized-record",
        good + b" " * (limits.max_record_bytes + 1 - len(good)),
        Reason.OVERSIZED_RECORD,
    )

    bad_graph = Reason.BAD_GRAPH_ID
    yield case("graph-empty", _single(g, graph=""), bad_graph)
    yield case("graph-leading-dash", _single(g, graph="-" + g), bad_graph)
    yield case("graph-leading-dot", _single(g, graph="." + g), bad_graph)
    yield case("graph-slash", _single(g, graph=f"{g}/x"), bad_graph)
    yield case("graph-colon", _single(g, graph=f"{g}:x"), bad_graph)
    yield case("graph-space", _single(g, graph=f"{g} x"), bad_graph)
    yield case("graph-non-ascii-letter", _single(g, graph=g + "\u00e9"), bad_graph)
    yield case("graph-fullwidth-letters", _single(g, graph="\uff47\uff11"), bad_graph)
    yield case("graph-too-long", _single(g, graph="a" * 65), bad_graph)
    yield case("graph-newline", _single(g, graph=g + "\n"), bad_graph)
    yield case("graph-nul", _single(g, graph=g + "\x00"), bad_graph)
    yield case(
        "graph-lone-surrogate",
        _raw('{"graph": "\\ud800", "op": "delete", "u": 1, "v": 2}', g),
        bad_graph,
    )
    yield case("graph-in-batch", _batch(g, graph="a/b"), bad_graph)

    unknown_op = Reason.UNKNOWN_OP
    yield case("op-upsert", _single(g, op="upsert"), unknown_op)
    yield case("op-upper-case", _single(g, op="INSERT"), unknown_op)
    yield case("op-empty", _single(g, op=""), unknown_op)
    yield case("op-padded", _single(g, op="insert "), unknown_op)
    yield case("op-in-batch", _batch(g, ops=["insert", "remove", "reweight"]), unknown_op)
    yield case(
        "op-in-batch-without-w", _batch(g, ops=["delete", "remove", "delete"], w=_DROP), unknown_op
    )

    node = Reason.BAD_NODE_ID
    yield case("node-id-negative", _single(g, u=-1), node)
    yield case("node-id-two-to-the-63", _single(g, v=2**63), node)
    yield case("node-id-two-to-the-64", _single(g, u=2**64), node)
    yield case("node-id-beyond-64-bits", _single(g, u=10**30), node)
    yield case("node-id-below-int64", _single(g, u=-(2**63) - 1), node)
    yield case("node-id-integral-float-too-large", _single(g, v=1e19), node)
    yield case("node-id-of-4000-digits", _single(g, u=int("9" * 4000)), node)
    yield case("node-id-negative-in-batch", _batch(g, v=[1, -2, 3]), node)
    yield case("node-id-beyond-64-bits-in-batch", _batch(g, u=[0, 2**70, 2]), node)

    loop = Reason.SELF_LOOP
    yield case("self-loop", _single(g, v=3), loop)
    yield case("self-loop-in-batch", _batch(g, v=[1, 1, 3]), loop)
    yield case("self-loop-int-and-float", _single(g, v=3.0), loop)
    yield case("self-loop-negative-zero", _single(g, u=-0.0, v=0), loop)

    weight = Reason.BAD_WEIGHT
    yield case("weight-zero", _single(g, w=0), weight)
    yield case("weight-negative-zero", _single(g, w=-0.0), weight)
    yield case("weight-negative", _single(g, w=-1.5), weight)
    yield case("weight-null-on-insert", _single(g, w=None), weight)
    yield case("weight-null-on-reweight-in-batch", _batch(g, w=[1.0, None, None]), weight)
    yield case("weight-nan", _single(g, w=float("nan")), weight)
    yield case("weight-nan-in-batch", _batch(g, w=[float("nan"), None, 2.5]), weight)
    yield case("weight-infinity", _single(g, w=float("inf")), weight)
    yield case("weight-negative-infinity", _single(g, w=-float("inf")), weight)
    yield case("weight-1e999", (head.replace("1.5", "1e999") + "}").encode(), weight)
    yield case("weight-1e999-in-batch", _batch(g).replace(b"2.5", b"1e999"), weight)
    yield case("weight-infinity-in-batch", _batch(g, w=[1.0, None, float("inf")]), weight)
    yield case("weight-huge-integer", _single(g, w=10**400), weight)
    yield case("weight-huge-integer-in-batch", _batch(g, w=[1.0, None, 10**400]), weight)
    yield case("weight-underflows-to-zero", (head.replace("1.5", "1e-400") + "}").encode(), weight)
    yield case("weight-negative-on-delete", _single(g, op="delete", w=-1.0), weight)

    mismatch, value = Reason.KEY_MISMATCH, _single(g)
    yield case("key-of-another-graph", value, mismatch, key=b"other-" + g.encode())
    yield case("key-trailing-space", value, mismatch, key=g.encode() + b" ")
    yield case("key-trailing-nul", value, mismatch, key=g.encode() + b"\x00")
    yield case("key-json-quoted", value, mismatch, key=json.dumps(g).encode())
    yield case("key-empty", value, mismatch, key=b"")
    yield case("key-not-utf-8", value, mismatch, key=g.encode() + b"\xff")
    if g.swapcase() != g:
        yield case("key-other-case", value, mismatch, key=g.swapcase().encode())
    yield HostileCase("key-null", value, None, mismatch, null_key=True)


def good_records(graph: str = GRAPH, limits: DecodeLimits = CORPUS_LIMITS) -> list[bytes]:
    """Valid records of ``graph`` (keyed by its id), odd but legal ones included."""
    g = graph
    n = limits.max_record_updates
    at_limit = _batch(g, ops=["delete"] * n, u=list(range(n)), v=list(range(1, n + 1)), w=_DROP)
    return [
        _single(g),
        _single(g, op="delete", w=_DROP),
        _single(g, op="delete", w=None),
        _single(g, op="delete", w=4.0),  # a weight on a delete is ignored
        _single(g, op="reweight", w=0.25),
        _batch(g),
        _batch(g, ops=["delete"] * 3, w=_DROP),
        _single(g, u=4.0, v=5),  # a number with a zero fraction is an integer
        _single(g, u=-0.0, v=1),
        _single(g, u=2**63 - 1, v=0),
        _single(g, w=5e-324),  # the least positive double
        _single(g, w=1e308),
        _single(g, w=2),
        _raw('{"w": 1.5E+0, "v": 9, "u": 3, "op": "insert", "graph": G}', g),
        _raw(
            '{\n  "graph" : G ,\n  "op" : "insert" ,\n  "u" : 3 ,\n  "v" : 9 ,\n  "w" : 1.5\n}', g
        ),
        _raw('{"graph": G, "op": "insert", "u": 3, "v": 9, "\\u0077": 1.5}', g),  # "w" escaped
        at_limit,
    ]
