"""The project's confluent-kafka readers with librdkafka's ``fetch.queue.backoff.ms`` at its
default (1000 ms: fetching a partition stops for a second whenever its local queue is full) and
at lower values (the readers' setting, ``connector/kafka/reader_config.py``).

    python -m bench.reader_stalls [--bootstrap-servers HOST:PORT] [--records 500000]
        [--nodes 65536] [--small-nodes 1024] [--batch-size 10000] [--backoff-ms 1000 10 1]
        [--repeats 3] [--out FILE]

- read: a topic preloaded with ``--records`` single-update input records (~60 bytes each),
  read whole by ``read_topic`` (``materialize``, the downstream client, the benchmarks) and by
  recovery's ``KafkaLogReader.read``; records/s.
- recovery: one worker partition as a worker leaves it, with no checkpoint: the input topic
  holds a delaunay graph's update stream (the graph as insertions, then 25 % |V| insertions and
  1 % |V| deletions) as single-update records; the deltas topic the engine's deltas of it in
  batches of ``--batch-size`` updates (the worker's ``SPARSIFLOW_BATCH_MAX_SIZE``), written
  with the worker's encoders and headers. ``Restorer.recover`` reads every delta and every
  input record back and replays them; seconds (the recovered H is checked against the
  engine's). ``recovery``: ``--nodes``; ``recovery_small``: ``--small-nodes`` (a few thousand
  records, about what follows a recent checkpoint: there a reader's fixed waits show).

Each round runs every ``--backoff-ms`` value once (alternating, so drift on a shared machine
hits all alike); the medians of ``--repeats`` rounds are reported, with the process's CPU
seconds (librdkafka's threads included). Starts a local broker unless ``--bootstrap-servers``
is given. Prints JSON with machine info.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.emit import emit
from bench.local_broker import broker_for
from bench.machine import machine_info
from sparsiflow.connector.kafka.log_reader import KafkaLogReader
from sparsiflow.connector.kafka.produce import produce
from sparsiflow.connector.kafka.reader_config import FETCH_QUEUE_BACKOFF_MS
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.recovery.restorer import Restorer
from sparsiflow.connector.wire.delta_log import delta_headers
from sparsiflow.connector.wire.deltas import SourceRange, encode_delta
from sparsiflow.connector.wire.edge_updates import DecodeLimits
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream

GRAPH = "bench"
BACKOFF = "fetch.queue.backoff.ms"


def _create(conf: dict[str, Any], *topics: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(conf)  # held until the futures are done
    created = admin.create_topics(
        [NewTopic(t, 1, 1, config={"max.message.bytes": str(16 * 2**20)}) for t in topics]
    )
    for future in created.values():
        future.result(30)


def _stream(nodes: int) -> UpdateBatch:
    stream = update_stream(delaunay(nodes, seed=1), 0.25, 0.01, seed=1)
    base = UpdateBatch.inserts(stream.base.u, stream.base.v, stream.base.w)
    return UpdateBatch.concat([base, stream.batch()])


def _small_records(count: int) -> UpdateBatch:
    u = np.arange(count, dtype=np.int64)
    return UpdateBatch.inserts(u, u + 1, np.ones(count))


def _write_deltas(conf: dict[str, Any], topic: str, updates: UpdateBatch, size: int) -> Engine:
    """Run the engine over ``updates`` (records 0.. of input partition 0, one update each) in
    batches of ``size`` and write its deltas as a worker does; returns the engine."""
    from confluent_kafka import Producer

    producer = Producer({**conf, "linger.ms": 20, "message.max.bytes": 16 * 2**20})
    engine = Engine(EngineConfig(), graph_id=GRAPH)
    for first in range(0, len(updates), size):
        batch = updates.slice(first, min(first + size, len(updates)))
        report = engine.apply(batch)
        source = SourceRange(0, first, first + len(batch) - 1)
        value = encode_delta(GRAPH, report.batch, source, report.delta, time.time())
        headers: list[tuple[str, str | bytes | None]] = list(delta_headers(len(batch), None))
        producer.produce(topic, value, GRAPH.encode(), partition=0, headers=headers)
        producer.poll(0)
    assert producer.flush(120) == 0
    return engine


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(run: Callable[[], int]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and the count ``run`` returns."""
    cpu, started = _cpu(), time.perf_counter()
    count = run()
    return time.perf_counter() - started, _cpu() - cpu, count


def _read_topic(conf: dict[str, Any], topic: str) -> int:
    return sum(1 for _ in read_topic(conf, topic))


def _read_log(conf: dict[str, Any], topic: str, end: int) -> int:
    reader = KafkaLogReader(conf)
    try:
        return sum(1 for _ in reader.read(topic, 0, 0, end))
    finally:
        reader.close()


def _recover(conf: dict[str, Any], topics: dict[str, str], expected: Engine) -> int:
    """Recover input partition 0 with no checkpoint; the input records it replayed."""
    restorer = Restorer(
        reader=KafkaLogReader(conf),
        store=None,
        input_topic=topics["input"],
        deltas_topic=topics["deltas"],
        delta_partitions=1,
        config=EngineConfig(),
        limits=DecodeLimits(),
    )
    try:
        recovered = restorer.recover(0, {}, None)
    finally:
        restorer.close()
    (graph,) = recovered.graphs
    assert graph.engine is not None, graph.quarantined
    got, want = graph.engine.sparsifier_edges(), expected.sparsifier_edges()
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)), "H differs"
    graph.engine.close()
    return sum(e.last_offset - e.first_offset + 1 for e in recovered.deltas)


def _summary(runs: list[tuple[float, float, int]]) -> dict[str, Any]:
    seconds = statistics.median(r[0] for r in runs)
    return {
        "median_seconds": round(seconds, 3),
        "median_cpu_seconds": round(statistics.median(r[1] for r in runs), 3),
        "median_per_s": round(runs[0][2] / seconds),
        "min_seconds": round(min(r[0] for r in runs), 3),
        "seconds": [round(r[0], 3) for r in runs],
        "count": runs[0][2],
    }


def _measure(
    conf: dict[str, Any], cases: dict[str, Callable[[dict[str, Any]], int]], backoffs: list[int],
    repeats: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per case and backoff value, the summary of ``repeats`` alternating rounds."""
    runs: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    for round_ in range(repeats):
        for name, case in cases.items():
            for ms in backoffs:
                result = _timed(lambda: case({**conf, BACKOFF: ms}))  # noqa: B023
                runs.setdefault((name, ms), []).append(result)
                print(f"round {round_} {name} {BACKOFF}={ms}: {result[0]:.2f} s", file=sys.stderr)
    return {
        name: {f"{ms}": _summary(runs[name, ms]) for ms in backoffs} for name in cases
    }  # fmt: skip


def _partition(
    conf: dict[str, Any], stem: str, nodes: int, batch_size: int
) -> tuple[dict[str, str], Engine, int]:
    """A worker partition's input and deltas topics for a delaunay graph of ``nodes``; its
    topics, the engine that wrote the deltas, and its input records."""
    topics = {k: f"{stem}-{k}" for k in ("input", "deltas")}
    _create(conf, *topics.values())
    updates = _stream(nodes)
    produce(conf, topics["input"], GRAPH, updates, records="single")
    return topics, _write_deltas(conf, topics["deltas"], updates, batch_size), len(updates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--nodes", type=int, default=2**16)
    parser.add_argument("--small-nodes", type=int, default=2**10)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--backoff-ms", type=int, nargs="+", default=[1000, FETCH_QUEUE_BACKOFF_MS])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-readers-"))
    bootstrap, broker = broker_for(args.bootstrap_servers, workdir)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap}
    stem = f"bench-readers-{time.time_ns()}"
    records = f"{stem}-records"
    try:
        _create(conf, records)
        produce(conf, records, GRAPH, _small_records(args.records), records="single")
        parts = {
            name: (*_partition(conf, f"{stem}-{name}", nodes, args.batch_size), nodes)
            for name, nodes in (("recovery", args.nodes), ("recovery_small", args.small_nodes))
        }
        _recover(conf, *parts["recovery"][:2])  # warm-up: the replay's kernels compiled or loaded
        cases: dict[str, Callable[[dict[str, Any]], int]] = {
            "read_topic": lambda c: _read_topic(c, records),
            "log_reader": lambda c: _read_log(c, records, args.records),
        }
        for name, (topics, engine, _, _) in parts.items():
            cases[name] = functools.partial(_recover, topics=topics, expected=engine)
        results = _measure(conf, cases, args.backoff_ms, args.repeats)
    finally:
        if broker is not None:
            broker.stop()
    out = {
        "benchmark": "reader_stalls",
        "setting": BACKOFF,
        "readers_value_ms": FETCH_QUEUE_BACKOFF_MS,
        "read": {"records": args.records, "record_form": "single"},
        **{
            name: {
                "graph": {"family": "delaunay", "nodes": nodes},
                "input_records": count,
                "batch_size": args.batch_size,
                "deltas": int(engine.batch_number),
                "checkpoint": None,
            }
            for name, (_, engine, count, nodes) in parts.items()
        },
        "repeats": args.repeats,
        "results": results,
        "machine": machine_info(),
        "broker": "local" if broker else conf["bootstrap.servers"],
    }
    return emit(out, args.out)


if __name__ == "__main__":
    sys.exit(main())
