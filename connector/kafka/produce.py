"""Send a graph (as insertions) and update files to the input topic: the library behind
``sparsiflow produce`` and the demo.

Records are keyed by graph id and partitioned with Java's murmur2 hash, like every Kafka client
that follows the Java default, so one graph always lands on one partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from sparsiflow.engine.graph.updates import Op, UpdateBatch

__all__ = ["ProduceReport", "Records", "encode_records", "produce", "read_update_file"]

Records = Literal["single", "batch"]
_NAMES = {int(op): op.name.lower() for op in Op}


@dataclass(frozen=True)
class ProduceReport:
    """What :func:`produce` delivered: counts, duration, and the last offset per partition."""

    records: int
    updates: int
    seconds: float
    last_offsets: dict[int, int]


def read_update_file(path: Path) -> UpdateBatch:
    """Updates of a JSONL file of input events (any graph) or a Matrix Market stream of
    inserted edges (``.mtx``)."""
    if path.suffix == ".mtx":
        from sparsiflow.connector.wire.matrix_market import read_edge_stream

        return read_edge_stream(path)
    from sparsiflow.workloads.streams import read_updates

    return read_updates(path)


def encode_records(
    graph: str, updates: UpdateBatch, records: Records = "batch", per_record: int = 1000
) -> Iterator[tuple[bytes, int]]:
    """Input-event values for ``updates`` with their update counts: one per update (single
    form) or ``per_record`` updates per record (batch form)."""
    if records == "single":
        for op, u, v, w in zip(
            updates.ops.tolist(), updates.u.tolist(), updates.v.tolist(), updates.w.tolist(),
            strict=True,
        ):  # fmt: skip
            event: dict[str, Any] = {"graph": graph, "op": _NAMES[op], "u": u, "v": v}
            if op != Op.DELETE:
                event["w"] = w
            yield orjson.dumps(event), 1
        return
    for start in range(0, len(updates), per_record):
        part = updates.slice(start, start + per_record)
        weights = np.where(part.ops == Op.DELETE, np.nan, part.w)  # NaN encodes as null
        yield (
            orjson.dumps(
                {
                    "graph": graph,
                    "ops": [_NAMES[o] for o in part.ops.tolist()],
                    "u": part.u,
                    "v": part.v,
                    "w": weights,
                },
                option=orjson.OPT_SERIALIZE_NUMPY,
            ),
            len(part),
        )


def produce(
    config: dict[str, Any],
    topic: str,
    graph: str,
    updates: UpdateBatch,
    *,
    records: Records = "batch",
    per_record: int = 1000,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Send ``updates`` of ``graph`` to ``topic`` at most at ``rate`` updates/s; wait until
    all are delivered. ``progress`` is called (about 10 times a second) with the updates sent
    since its last call."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
            **config,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "message.max.bytes": 16 * 2**20,
        }
    )
    last: dict[int, int] = {}
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

    key = graph.encode()
    sent = count = unreported = 0
    start = reported = time.perf_counter()
    for value, n in encode_records(graph, updates, records, per_record):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        producer.poll(0)
        sent += n
        count += 1
        unreported += n
        now = time.perf_counter()
        if progress is not None and now - reported > 0.1:
            progress(unreported)
            unreported, reported = 0, now
        if rate and sent / rate > now - start:
            time.sleep(sent / rate - (now - start))
    if progress is not None and unreported:
        progress(unreported)
    if producer.flush(120) > 0 or errors:
        raise KafkaException(f"not every record was delivered: {errors[:3]}")
    return ProduceReport(count, sent, time.perf_counter() - start, last)
