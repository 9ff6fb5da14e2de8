"""Dead-letter records: the rejected input unchanged, with headers naming why and where from
(contract: ``schemas/dlq-envelope.v1.json``)."""

from __future__ import annotations

from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.rejections import Rejected

__all__ = ["HEADER_PREFIX", "dlq_record", "read_dlq_headers"]

HEADER_PREFIX = "sparsiflow."
_MAX_MESSAGE = 500


def dlq_record(topic: str, record: InputRecord, rejected: Rejected, now: float) -> OutputRecord:
    """The DLQ record for ``record``: same key and value; original headers kept, ours added."""
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
    return OutputRecord(topic, record.key, record.value or b"", kept + added)


def read_dlq_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """Headers of a DLQ record as a ``name -> text`` dict (the envelope schema's instance)."""
    return {k: v.decode("utf-8", "replace") for k, v in headers or []}
