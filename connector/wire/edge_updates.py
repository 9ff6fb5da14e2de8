"""Input events: record bytes -> a validated update batch of one graph, or a rejection; and
update batches -> record bytes (single or batch form).

Implements the edge-update contract ``schemas/edge-update.v1.json`` plus its rules beyond JSON
Schema (README there) by hand after ``orjson``: about 30x faster than a generated schema validator
on batch-form records. Bad input is a :class:`~sparsiflow.connector.wire.rejections.Rejected` value,
never an exception. When several faults are present the first of this order is reported: record
size, JSON syntax, a key twice in one object (``duplicate_key``), the record's fields and array
lengths (``schema``), the batch size (``oversized_batch``), then the rules of each update, the
same for both forms (:mod:`~sparsiflow.connector.wire.update_rules`): types (``schema``), graph
id, op, node ids, self-loops, weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from sparsiflow.connector.wire.rejections import Reason, Rejected
from sparsiflow.connector.wire.update_rules import (
    DELETE,
    OP_NAMES,
    Row,
    check_columns,
    check_row,
    is_graph_id,
    kind,
)
from sparsiflow.engine.graph.updates import UpdateBatch

__all__ = [
    "MAX_RECORD_UPDATES",
    "DecodeLimits",
    "Decoded",
    "RecordForm",
    "assemble",
    "decode",
    "decode_run",
    "encode_batch",
    "encode_records",
    "encode_update",
    "is_graph_id",
]

RecordForm = Literal["single", "batch"]

MAX_RECORD_UPDATES = 100_000
"""The contract's cap on updates per batch-form record (``maxItems`` in the schema)."""

_SINGLE_KEYS = frozenset({"graph", "op", "u", "v", "w"})
_BATCH_KEYS = frozenset({"graph", "ops", "u", "v", "w"})
_SINGLE_REQUIRED = _SINGLE_KEYS - {"w"}
_BATCH_REQUIRED = _BATCH_KEYS - {"w"}


@dataclass(frozen=True)
class DecodeLimits:
    """Per-record limits: bytes before parsing, updates in a batch-form record."""

    max_record_bytes: int = 8 * 2**20
    max_record_updates: int = MAX_RECORD_UPDATES

    def __post_init__(self) -> None:
        if not 1 <= self.max_record_updates <= MAX_RECORD_UPDATES:
            raise ValueError(f"max_record_updates must be in [1, {MAX_RECORD_UPDATES}]")
        if self.max_record_bytes < 64:
            raise ValueError("max_record_bytes must be >= 64")


@dataclass(slots=True)  # not frozen: built once per record, and frozen costs 4x to build
class Decoded:
    """A valid input record: its graph id and its updates, in record order; not changed once
    built.

    A batch-form record holds an :class:`UpdateBatch`; a single-update record holds the plain
    row ``(op, u, v, w)`` (building arrays per row would cost more than decoding it).
    :func:`assemble` turns any sequence of them into one batch.
    """

    graph: str
    batch: UpdateBatch | None = None
    row: Row | None = None

    def __len__(self) -> int:
        return 1 if self.batch is None else len(self.batch)

    @property
    def updates(self) -> UpdateBatch:
        """This record's updates as a batch."""
        return assemble([self])


def assemble(parts: Sequence[Decoded]) -> UpdateBatch:
    """The updates of ``parts`` in order, as one batch (validated when they were decoded)."""
    pieces: list[UpdateBatch] = []
    rows: list[Row] = []
    for part in parts:
        if part.row is not None:
            rows.append(part.row)
            continue
        if rows:
            pieces.append(_rows_batch(rows))
            rows = []
        assert part.batch is not None
        pieces.append(part.batch)
    if rows:
        pieces.append(_rows_batch(rows))
    return pieces[0] if len(pieces) == 1 else UpdateBatch.concat(pieces)


def _rows_batch(rows: list[Row]) -> UpdateBatch:
    ops, u, v, w = zip(*rows, strict=True)
    return UpdateBatch(
        np.array(ops, dtype=np.int8),
        np.array(u, dtype=np.int64),
        np.array(v, dtype=np.int64),
        np.array(w, dtype=np.float64),
    )


_DEFAULT_LIMITS = DecodeLimits()


def decode(value: bytes | None, limits: DecodeLimits | None = None) -> Decoded | Rejected:
    """Decode one input record value; never raises for any input."""
    limits = limits or _DEFAULT_LIMITS
    try:
        doc = _parse(value, limits)
        return doc if isinstance(doc, Rejected) else _event(doc, limits)
    except Exception as exc:  # a decoder bug must not block the partition: reject, keep going
        return Rejected(Reason.DECODER_ERROR, f"{type(exc).__name__}: {exc}")


def decode_run(
    values: Sequence[bytes | None], graph: str, limits: DecodeLimits | None = None
) -> UpdateBatch | None:
    """The updates of consecutive single-update records of ``graph`` as one batch, when every
    one of them is a valid record of that graph (the rows :func:`decode` would give); None
    when any is not, or has a form :func:`decode` reads by its slower path: the caller then
    decodes them one by one, so every outcome is :func:`decode`'s. Parsed one by one, checked
    together (:func:`~sparsiflow.connector.wire.update_rules.check_columns`): about 1.3 us
    per record in runs of 512, where :func:`decode` and a batch of its rows take 4."""
    most = (limits or _DEFAULT_LIMITS).max_record_bytes
    loads, ops, u, v, w = orjson.loads, [], [], [], []
    for value in values:
        if value is None or len(value) > most:
            return None
        try:
            doc = loads(value)
        except orjson.JSONDecodeError:
            return None
        if type(doc) is not dict or value.count(b":") != len(doc):  # a key twice: _parse
            return None
        if doc.keys() == _SINGLE_KEYS:
            w.append(doc["w"])
        elif doc.keys() == _SINGLE_REQUIRED and doc["op"] == "delete":
            w.append(None)  # a delete's weight, null in a batch
        else:
            return None
        if doc["graph"] != graph:
            return None
        ops.append(doc["op"])
        u.append(doc["u"])
        v.append(doc["v"])
    try:
        checked = check_columns(graph, ops, u, v, w)
    except AssertionError:  # the checks disagree with check_row: its own path reports it
        return None
    return None if isinstance(checked, Rejected) else checked


def encode_update(graph: str, op: int, u: int, v: int, w: float) -> bytes:
    """A single-form input event (a delete carries no ``w``)."""
    event: dict[str, Any] = {"graph": graph, "op": OP_NAMES[op], "u": u, "v": v}
    if op != DELETE:
        event["w"] = w
    return orjson.dumps(event)


def encode_batch(graph: str, updates: UpdateBatch) -> bytes:
    """A batch-form input event of all of ``updates`` (a delete's ``w`` is null)."""
    weights = np.where(updates.ops == DELETE, np.nan, updates.w)  # NaN encodes as null
    event = {
        "graph": graph,
        "ops": [OP_NAMES[o] for o in updates.ops.tolist()],
        "u": updates.u,
        "v": updates.v,
        "w": weights,
    }
    return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_records(
    graph: str, updates: UpdateBatch, form: RecordForm = "batch", per_record: int = 1000
) -> Iterator[tuple[bytes, int]]:
    """Input events for ``updates`` with their update counts: one per update (single form) or
    one per ``per_record`` updates (batch form)."""
    if form == "single":
        for op, u, v, w in zip(
            updates.ops.tolist(), updates.u.tolist(), updates.v.tolist(), updates.w.tolist(),
            strict=True,
        ):  # fmt: skip
            yield encode_update(graph, op, u, v, w), 1
        return
    for start in range(0, len(updates), per_record):
        part = updates.slice(start, start + per_record)
        yield encode_batch(graph, part), len(part)


def _parse(value: bytes | None, limits: DecodeLimits) -> Any:
    if value is None:
        return Rejected(Reason.MALFORMED_JSON, "record has no value")
    if len(value) > limits.max_record_bytes:
        return Rejected(
            Reason.OVERSIZED_RECORD,
            f"record of {len(value)} bytes exceeds the limit of {limits.max_record_bytes}",
        )
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        # The standard parser also reads NaN, Infinity and numbers beyond doubles (orjson reads
        # an integer beyond 64 bits as a double), so such values get the precise reason
        # (bad_weight, bad_node_id) instead of malformed_json.
        try:
            doc = json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return Rejected(Reason.MALFORMED_JSON, f"not UTF-8 JSON: {exc}")
    # Every member of an object is written with one colon, and colons elsewhere are in strings:
    # as many colons as the record's keys prove that no object holds a key twice (any valid
    # record). Otherwise the standard parser looks at every object's keys (orjson keeps the
    # last of equal keys, so {"graph": "evil", "graph": "g1"} would read as g1).
    if _more_colons(value, len(doc) if type(doc) is dict else 0):
        return _duplicate_key(value) or doc
    return doc


def _more_colons(value: bytes, members: int) -> bool:
    """Whether ``value`` has more than ``members`` colons. Counting is quickest on a small
    record; on a big one with few keys, jumping from colon to colon (memchr) is 6x quicker."""
    if len(value) < 2048 or members > 8:
        return value.count(b":") > members
    find, at = value.find, -1
    for _ in range(members + 1):
        at = find(b":", at + 1)
        if at < 0:
            return False
    return True


class _DuplicateKeyError(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> None:
    """``object_pairs_hook`` that raises on a key seen twice (the object itself is not needed)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKeyError(key)
        seen.add(key)


def _duplicate_key(value: bytes) -> Rejected | None:
    """A rejection when an object of the (parsed once already) document has a key twice."""
    try:
        json.loads(value.decode("utf-8"), object_pairs_hook=_pairs)
    except _DuplicateKeyError as exc:
        key = str(exc.args[0])
        shown = repr(key if len(key) <= 40 else f"{key[:40]}...")
        return Rejected(Reason.DUPLICATE_KEY, f"key {shown} appears twice in one object")
    except RecursionError:
        # orjson reads deeper nesting than json does; a valid record nests two levels, so the
        # structure checks reject this one (schema) whatever its keys
        return None
    except ValueError as exc:
        return Rejected(Reason.MALFORMED_JSON, f"not UTF-8 JSON: {exc}")
    return None


def _event(doc: Any, limits: DecodeLimits) -> Decoded | Rejected:
    if type(doc) is not dict:
        return Rejected(Reason.SCHEMA, f"an event is a JSON object, got {kind(doc)}")
    batch = "ops" in doc
    if not batch and "op" not in doc:
        return Rejected(Reason.SCHEMA, "an event has 'op' (single form) or 'ops' (batch form)")
    keys = doc.keys()
    if (
        not (_BATCH_REQUIRED if batch else _SINGLE_REQUIRED)
        <= keys
        <= (_BATCH_KEYS if batch else _SINGLE_KEYS)
    ):
        return _fields(doc, batch)
    graph = doc["graph"]
    if type(graph) is not str:
        return Rejected(Reason.SCHEMA, f"graph must be a string, got {kind(graph)}")
    if batch:
        return _batch(doc, graph, limits)
    row = check_row(graph, doc["op"], doc["u"], doc["v"], doc.get("w"), "w" in keys)
    return row if isinstance(row, Rejected) else Decoded(graph, row=row)


def _fields(doc: dict[str, Any], batch: bool) -> Rejected:
    unknown = doc.keys() - (_BATCH_KEYS if batch else _SINGLE_KEYS)
    if unknown:
        return Rejected(Reason.SCHEMA, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    missing = (_BATCH_REQUIRED if batch else _SINGLE_REQUIRED) - doc.keys()
    return Rejected(Reason.SCHEMA, f"missing field(s): {', '.join(sorted(missing))}")


def _batch(doc: dict[str, Any], graph: str, limits: DecodeLimits) -> Decoded | Rejected:
    names = [name for name in ("ops", "u", "v", "w") if name in doc]
    for name in names:
        if type(doc[name]) is not list:
            return Rejected(Reason.SCHEMA, f"{name} must be an array, got {kind(doc[name])}")
    lengths = {len(doc[name]) for name in names}
    n = len(doc["ops"])
    if len(lengths) > 1:
        return Rejected(Reason.SCHEMA, f"arrays {', '.join(names)} differ in length")
    if n == 0:
        return Rejected(Reason.SCHEMA, "a batch-form record needs at least one update")
    if n > limits.max_record_updates:
        return Rejected(
            Reason.OVERSIZED_BATCH,
            f"{n} updates in one record exceed the limit of {limits.max_record_updates}",
        )
    checked = check_columns(graph, doc["ops"], doc["u"], doc["v"], doc.get("w"))
    return checked if isinstance(checked, Rejected) else Decoded(graph, batch=checked)
