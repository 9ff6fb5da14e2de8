"""Why an input record is rejected: machine-readable reasons, their families, and the value
that carries one (errors as values: decoding and routing never raise for bad input)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ErrorClass", "Reason", "Rejected"]


class ErrorClass(StrEnum):
    """Family of a reason, written to the DLQ header ``sparsiflow.error_class``."""

    MALFORMED_RECORD = "MalformedRecord"
    SCHEMA_VIOLATION = "SchemaViolation"
    INVALID_UPDATE = "InvalidUpdate"
    ROUTING_REJECTION = "RoutingRejection"
    INTERNAL_ERROR = "InternalError"


class Reason(StrEnum):
    """Reason of a rejection, written to the DLQ header ``sparsiflow.reason``."""

    OVERSIZED_RECORD = "oversized_record"
    MALFORMED_JSON = "malformed_json"
    DUPLICATE_KEY = "duplicate_key"
    SCHEMA = "schema"
    OVERSIZED_BATCH = "oversized_batch"
    BAD_GRAPH_ID = "bad_graph_id"
    UNKNOWN_OP = "unknown_op"
    BAD_NODE_ID = "bad_node_id"
    SELF_LOOP = "self_loop"
    BAD_WEIGHT = "bad_weight"
    KEY_MISMATCH = "key_mismatch"
    UNKNOWN_GRAPH = "unknown_graph"
    TOO_MANY_GRAPHS = "too_many_graphs"
    WRONG_PARTITION = "wrong_partition"
    CONFLICTING_LOG = "conflicting_log"
    DECODER_ERROR = "decoder_error"

    @property
    def error_class(self) -> ErrorClass:
        return _CLASSES[self]


_CLASSES = {
    Reason.OVERSIZED_RECORD: ErrorClass.MALFORMED_RECORD,
    Reason.MALFORMED_JSON: ErrorClass.MALFORMED_RECORD,
    Reason.DUPLICATE_KEY: ErrorClass.SCHEMA_VIOLATION,
    Reason.SCHEMA: ErrorClass.SCHEMA_VIOLATION,
    Reason.OVERSIZED_BATCH: ErrorClass.SCHEMA_VIOLATION,
    Reason.BAD_GRAPH_ID: ErrorClass.SCHEMA_VIOLATION,
    Reason.UNKNOWN_OP: ErrorClass.INVALID_UPDATE,
    Reason.BAD_NODE_ID: ErrorClass.INVALID_UPDATE,
    Reason.SELF_LOOP: ErrorClass.INVALID_UPDATE,
    Reason.BAD_WEIGHT: ErrorClass.INVALID_UPDATE,
    Reason.KEY_MISMATCH: ErrorClass.ROUTING_REJECTION,
    Reason.UNKNOWN_GRAPH: ErrorClass.ROUTING_REJECTION,
    Reason.TOO_MANY_GRAPHS: ErrorClass.ROUTING_REJECTION,
    Reason.WRONG_PARTITION: ErrorClass.ROUTING_REJECTION,
    Reason.CONFLICTING_LOG: ErrorClass.ROUTING_REJECTION,
    Reason.DECODER_ERROR: ErrorClass.INTERNAL_ERROR,
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A rejected record: the reason and a human-readable message."""

    reason: Reason
    message: str
