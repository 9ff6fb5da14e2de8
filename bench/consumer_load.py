"""How long a new downstream consumer takes to hold a graph's H: loaded from the compacted
current-H topic (then the deltas after its position) vs every delta replayed from the start.

    python -m bench.consumer_load [--bootstrap-servers HOST:PORT] [--nodes 262144]
        [--churn-rounds 10] [--out FILE]

The topics are written as a worker writes them, with the worker's encoders (``encode_delta``,
``edge_records``), from the engine run offline: a log-normal Delaunay graph streamed in from
empty in batches of 50,000 insertions, then ``--churn-rounds`` rounds that each reweight 10 %
of G's edges and delete and re-insert 2 % (the history grows, H stays the same size). The
current-H topic is created with small segments so the broker compacts it; the benchmark waits
for a compaction before measuring. Starts a local broker unless ``--bootstrap-servers``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.emit import emit
from bench.local_broker import broker_for
from bench.machine import machine_info
from sparsiflow.connector.downstream.client import SparsifierClient
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.wire.deltas import SourceRange, encode_delta
from sparsiflow.connector.wire.edges import edge_records
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.workloads.families import delaunay

GRAPH = "bench"
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "1000",
}


def _batches(nodes: int, rounds: int, seed: int) -> list[UpdateBatch]:
    g = delaunay(nodes, "lognormal", seed)
    rng = np.random.default_rng(seed)
    out = [
        UpdateBatch.inserts(g.u[i : i + 50_000], g.v[i : i + 50_000], g.w[i : i + 50_000])
        for i in range(0, g.m, 50_000)
    ]
    for _ in range(rounds):
        rows = rng.choice(g.m, g.m // 10, replace=False)
        out.append(UpdateBatch.build(np.full(rows.size, Op.REWEIGHT), g.u[rows], g.v[rows],
                                     rng.lognormal(0.0, 1.0, rows.size)))  # fmt: skip
        rows = rng.choice(g.m, g.m // 50, replace=False)
        out.append(UpdateBatch.build(np.full(rows.size, Op.DELETE), g.u[rows], g.v[rows]))
        out.append(UpdateBatch.inserts(g.u[rows], g.v[rows], rng.lognormal(0.0, 1.0, rows.size)))
    return out


def _write(conf: dict[str, Any], deltas: str, edges: str, batches: list[UpdateBatch]) -> int:
    """Run the engine over ``batches`` and write the topics; returns the current-H records."""
    from confluent_kafka import Producer

    producer = Producer({**conf, "linger.ms": 20, "message.max.bytes": 16 * 2**20,
                         "queue.buffering.max.messages": 2_000_000})  # fmt: skip
    engine, count = Engine(graph_id=GRAPH), 0
    for offset, batch in enumerate(batches):
        report = engine.apply(batch)
        value = encode_delta(GRAPH, report.batch, SourceRange(0, 0, 0), report.delta, time.time())
        producer.produce(deltas, value, GRAPH.encode(), partition=0)
        for key, record in edge_records(GRAPH, report.batch, report.delta, 0, offset):
            producer.produce(edges, record, key, partition=0)
            count += 1
        producer.poll(0)
    assert producer.flush(120) == 0
    return count


def _compacted(conf: dict[str, Any], topic: str, written: int, timeout: float) -> int:
    """Wait until a compaction ran (fewer records readable than written); their count."""
    from confluent_kafka import Producer

    producer = Producer(conf)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(2.0)
        producer.produce(topic, b'{"batch": 0, "delta_partition": 0, "delta_offset": 0}', b"roll")
        producer.flush(10)  # a new record rolls the active segment, which the cleaner skips
        readable = sum(1 for _ in read_topic(conf, topic))
        if readable < written or time.monotonic() > deadline:
            return readable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--nodes", type=int, default=2**18)
    parser.add_argument("--churn-rounds", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    bootstrap, broker = broker_for(args.bootstrap_servers, workdir)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap}
    stem = f"bench-consumer-{time.time_ns()}"
    deltas, edges = f"{stem}-deltas", f"{stem}-edges"
    try:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient(conf)
        created = admin.create_topics([
            NewTopic(deltas, 1, 1, config={"max.message.bytes": str(16 * 2**20)}),
            NewTopic(edges, 1, 1, config=COMPACTED),
        ])  # fmt: skip
        for future in created.values():
            future.result(30)
        batches = _batches(args.nodes, args.churn_rounds, seed=1)
        started = time.perf_counter()
        written = _write(conf, deltas, edges, batches)
        write_seconds = time.perf_counter() - started
        readable = _compacted(conf, edges, written, timeout=180.0)
        timings: dict[str, float] = {}
        states = {}
        for name, topic in (("current_h_topic", edges), ("all_deltas", None)):
            client = SparsifierClient(conf, GRAPH, deltas, topic)
            started = time.perf_counter()
            if topic is not None:
                client.load()
            applied = sum(1 for _ in client.follow())
            timings[name] = time.perf_counter() - started
            states[name] = (client.state, applied)
        (fast, fast_applied), (full, full_applied) = states.values()
        assert fast.sparsifier.edges == full.sparsifier.edges, "the two ways disagree"
    finally:
        if broker is not None:
            broker.stop()
    out = {
        "benchmark": "consumer_load",
        "graph": {"family": "delaunay-lognormal", "nodes": args.nodes, "batches": len(batches)},
        "sparsifier_edges": len(full.sparsifier),
        "current_h_records": {"written": written, "after_compaction": readable},
        "deltas_applied": {"current_h_topic": fast_applied, "all_deltas": full_applied},
        "seconds": timings,
        "all_deltas_over_current_h": timings["all_deltas"] / timings["current_h_topic"],
        "write_seconds": write_seconds,
        "machine": machine_info(),
        "broker": "local" if broker else conf["bootstrap.servers"],
    }
    return emit(out, args.out)


if __name__ == "__main__":
    sys.exit(main())
