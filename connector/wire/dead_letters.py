"""Dead-letter records (contract: ``schemas/dlq-envelope.v1.json``): the rejected input record
unchanged, with headers naming why and where from; or, when that would not fit in the DLQ topic,
an *envelope*: the value cut to its first bytes, its size and SHA-256 digest in headers.

An envelope keeps, in this order of priority, while they fit in what the DLQ accepts: our
headers (reason, source coordinates, what was cut), the key (its first
:data:`KEY_PREFIX_BYTES` when longer), the value's first :data:`VALUE_PREFIX_BYTES`, then the
original headers, in order, each that still fits (``sparsiflow.headers_dropped`` counts the
others). For a DLQ that accepts at least :data:`MIN_DLQ_BYTES` an envelope always fits; the
whole record stays in the input topic at its source coordinates until retention removes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sparsiflow.connector.stream.records import Headers, InputRecord, OutputRecord
from sparsiflow.connector.wire.rejections import Rejected

__all__ = [
    "HEADER_PREFIX",
    "KEY_PREFIX_BYTES",
    "MIN_DLQ_BYTES",
    "RECORD_OVERHEAD",
    "VALUE_PREFIX_BYTES",
    "DeadLetterWriteError",
    "dlq_record",
    "read_dlq_headers",
    "record_bytes",
]

HEADER_PREFIX = "sparsiflow."
VALUE_PREFIX_BYTES = 1024
"""Bytes of the value an envelope keeps: the start of a JSON record (its graph id, op fields
and first rows), enough to tell who sent what and why it went wrong, and small beside any DLQ
limit (Kafka's default is 1 MB), so the original headers keep most of the room."""
KEY_PREFIX_BYTES = 256
"""Bytes of the key an envelope keeps (a valid key, a graph id, has at most 64)."""
RECORD_OVERHEAD = 512
"""Bytes counted for what Kafka adds around a record alone in its batch (a 61-byte batch
header, at most about 30 bytes of record framing), with room to spare."""
HEADER_OVERHEAD = 10
"""Bytes counted per header beyond its name and value (their two length varints)."""
MIN_DLQ_BYTES = 32 * 1024
"""From this DLQ limit (``max.message.bytes``) up, writing a dead letter cannot fail on size: an
envelope takes at most about 5 KiB, and the worker's producer puts small records together in
batches of up to 16 KiB, which the broker checks against the same limit."""
_MAX_MESSAGE = 500
_DROPPED = HEADER_PREFIX + "headers_dropped"
_DROPPED_BYTES = len(_DROPPED) + 10 + HEADER_OVERHEAD  # room kept for that header


class DeadLetterWriteError(RuntimeError):
    """The DLQ topic did not take a dead-letter record; the worker stops without acknowledging
    the rejected input record, which is read again after a restart. The message names the
    topic, the rejected record and the producer's (broker's) error, in one line."""

    def __init__(self, record: OutputRecord, error: BaseException) -> None:
        self.topic = record.topic
        source = {
            k: read_dlq_headers(record.headers).get(HEADER_PREFIX + "source_" + k, "?")
            for k in ("topic", "partition", "offset")
        }
        super().__init__(
            f"dead-letter topic {record.topic!r} could not be written: {_root(error)} "
            f"(rejected record {source['topic']!r} partition {source['partition']} offset "
            f"{source['offset']} left unacknowledged)"
        )


def dlq_record(
    topic: str, record: InputRecord, rejected: Rejected, now: float, max_bytes: int | None = None
) -> OutputRecord:
    """The DLQ record for ``record``: same key and value; original headers kept, ours added.
    When that would take more than ``max_bytes`` (what the DLQ topic accepts, as counted by
    :func:`record_bytes`; None: no limit), the envelope (module docstring) instead."""
    ours = {
        "reason": rejected.reason.value,
        "error_class": rejected.reason.error_class.value,
        "message": rejected.message[:_MAX_MESSAGE],
        "source_topic": record.topic,
        "source_partition": str(record.partition),
        "source_offset": str(record.offset),
        "rejected_at": f"{now:.6f}",
    }
    kept = [(k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX)]
    added = [(HEADER_PREFIX + k, v.encode("utf-8")) for k, v in ours.items()]
    whole = OutputRecord(topic, record.key, record.value or b"", kept + added)
    if max_bytes is None or record_bytes(whole) <= max_bytes:
        return whole
    return _envelope(topic, record.key, record.value or b"", kept, added, max_bytes)


def record_bytes(record: OutputRecord) -> int:
    """Bytes counted for ``record`` against a topic's ``max.message.bytes``: key, value, headers
    with :data:`HEADER_OVERHEAD` each, and :data:`RECORD_OVERHEAD`."""
    payload = len(record.key or b"") + len(record.value or b"")
    return payload + _headers_bytes(record.headers) + RECORD_OVERHEAD


def _envelope(
    topic: str,
    key: bytes | None,
    value: bytes,
    originals: Sequence[tuple[str, bytes]],
    ours: Headers,
    limit: int,
) -> OutputRecord:
    room = limit - RECORD_OVERHEAD - _DROPPED_BYTES - _headers_bytes(ours)
    if key is not None and len(key) > KEY_PREFIX_BYTES:
        cut = _cut("key", key)
        ours, key = ours + cut, key[:KEY_PREFIX_BYTES]
        room -= _headers_bytes(cut)
    room -= len(key or b"")
    if len(value) > min(VALUE_PREFIX_BYTES, room):
        cut = _cut("value", value)
        ours, room = ours + cut, room - _headers_bytes(cut)
        value = value[: max(0, min(VALUE_PREFIX_BYTES, room))]
    room -= len(value)
    kept: Headers = []
    for header in originals:
        size = _headers_bytes([header])
        if size <= room:
            kept.append(header)
            room -= size
    dropped = len(originals) - len(kept)
    if dropped:
        ours = [*ours, (_DROPPED, str(dropped).encode())]
    return OutputRecord(topic, key, value, kept + ours)


def _cut(part: str, data: bytes) -> Headers:
    """Headers of a key or value cut short: marker, original size, digest of the original."""
    return [
        (f"{HEADER_PREFIX}{part}_truncated", b"true"),
        (f"{HEADER_PREFIX}{part}_bytes", str(len(data)).encode()),
        (f"{HEADER_PREFIX}{part}_sha256", hashlib.sha256(data).hexdigest().encode()),
    ]


def _headers_bytes(headers: Sequence[tuple[str, bytes]]) -> int:
    return sum(len(k.encode()) + len(v) + HEADER_OVERHEAD for k, v in headers)


def _root(error: BaseException) -> str:
    """The root cause of ``error`` in one line (cause chains may loop)."""
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:
        error = error.__cause__
        seen.add(id(error))
    return " ".join(f"{type(error).__name__}: {error}".split())


def read_dlq_headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    """Headers of a DLQ record as a ``name -> text`` dict (the envelope schema's instance)."""
    return {k: v.decode("utf-8", "replace") for k, v in headers or []}
