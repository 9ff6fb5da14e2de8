"""End-to-end throughput and latency of the worker through a real broker (DESIGN.md section 9).

    python -m bench.connector_throughput [--bootstrap-servers HOST:PORT] [--nodes 131072]
        [--single-updates 200000] [--latency-seconds 20] [--mode default] [--out FILE]
        [--engine KEY=VALUE ...] [--worker KEY=VALUE ...]  (e.g. --worker transactions=false)

For each record form (batch-form records of 1000 updates, single-update records):
- sustained: the worker is warmed up (JIT, first batch) on a small graph, then a backlog of a
  delaunay update stream (the graph as insertions, then 25 % |V| insertions and 1 % |V|
  deletions) is written to the input topic while the worker drains it; rate = updates / (time
  of the last delta - when the backlog started);
- latency: a fresh worker, the same stream produced at half the sustained rate; per input
  record, event-to-delta latency = delta ``produced_at`` - the record's Kafka timestamp.
Starts a local broker unless ``--bootstrap-servers`` is given. Prints JSON with machine info.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sparsiflow.connector.kafka.produce import produce
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream

PER_RECORD = 1000


def _topics() -> dict[str, str]:
    stem = uuid.uuid4().hex[:8]
    return {k: f"bench-{stem}-{k}" for k in ("input", "deltas", "metrics", "dlq")}


def _deltas(conf: dict[str, Any], topic: str, graph: str) -> list[dict[str, Any]]:
    try:
        return [
            orjson.loads(m.value()) for m in read_topic(conf, topic) if m.key() == graph.encode()
        ]
    except RuntimeError:
        return []


def _wait(
    conf: dict[str, Any], topics: dict[str, str], graph: str, offset: int, worker: WorkerProcess
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = _deltas(conf, topics["deltas"], graph)
        return bool(found) and found[-1]["source"]["last_offset"] >= offset

    worker.wait_until(done, 900, f"{graph} deltas")
    return found


def _send(
    conf: dict[str, Any],
    topic: str,
    graph: str,
    updates: UpdateBatch,
    form: str,
    rate: float | None = None,
) -> int:
    """Produce to partition 0 (one partition: warm-up and main run stay in order)."""
    report = produce(
        conf,
        topic,
        graph,
        updates,
        records="single" if form == "single" else "batch",
        per_record=PER_RECORD,
        rate=rate,
    )
    return max(report.last_offsets.values())


def _phase(
    conf: dict[str, Any],
    workdir: Path,
    form: str,
    updates: UpdateBatch,
    warm: UpdateBatch,
    engine: dict[str, str],
    rate: float | None,
    worker_settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    topics = _topics()
    settings = {f"engine_{k}": v for k, v in engine.items()} | (worker_settings or {})
    group = f"bench-{uuid.uuid4().hex[:6]}"
    env = worker_env(conf["bootstrap.servers"], topics, group, topic_partitions="1", **settings)
    with WorkerProcess(env, workdir / f"worker-{topics['input']}.log") as worker:
        warm_last = _send(conf, topics["input"], "main", warm, form)
        warm_deltas = _wait(conf, topics, "main", warm_last, worker)
        started = warm_deltas[-1]["produced_at"]
        if rate is None:  # sustained: the whole backlog first, then measure the drain
            last = _send(conf, topics["input"], "main", updates, form)
            deltas = _wait(conf, topics, "main", last, worker)[len(warm_deltas) :]
            seconds = deltas[-1]["produced_at"] - max(
                started, _first_timestamp(conf, topics["input"], warm_last + 1)
            )
            return {
                "updates": len(updates),
                "seconds": round(seconds, 3),
                "updates_per_s": round(len(updates) / seconds),
                "batches": len(deltas),
            }
        sender = threading.Thread(
            target=_send, args=(conf, topics["input"], "main", updates, form, rate)
        )
        sender.start()
        sender.join()
        last = max(m.offset() for m in read_topic(conf, topics["input"]))
        deltas = _wait(conf, topics, "main", last, worker)[len(warm_deltas) :]
        stamps = {m.offset(): m.timestamp()[1] / 1000 for m in read_topic(conf, topics["input"])}
        lat = np.array(
            [
                d["produced_at"] - stamps[o]
                for d in deltas
                for o in range(d["source"]["first_offset"], d["source"]["last_offset"] + 1)
                if o in stamps
            ]
        )
        return {
            "rate_updates_per_s": round(rate),
            "records": int(lat.size),
            "latency_p50_s": round(float(np.percentile(lat, 50)), 4),
            "latency_p99_s": round(float(np.percentile(lat, 99)), 4),
            "latency_max_s": round(float(lat.max()), 4),
            "batches": len(deltas),
        }


def _first_timestamp(conf: dict[str, Any], topic: str, offset: int) -> float:
    """Kafka timestamp of the record at ``offset`` (when the backlog started to be written)."""
    for msg in read_topic(conf, topic):
        if msg.offset() == offset:
            return float(msg.timestamp()[1]) / 1000
    raise LookupError(offset)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--nodes", type=int, default=2**17)
    parser.add_argument("--single-updates", type=int, default=200_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--mode", choices=["default", "dygrass"], default="default")
    parser.add_argument(
        "--engine", action="append", default=[], metavar="KEY=VALUE",
        help="more engine settings, e.g. walkers=64 (SPARSIFLOW_ENGINE_WALKERS)",
    )  # fmt: skip
    parser.add_argument(
        "--worker", action="append", default=[], metavar="KEY=VALUE",
        help="more worker settings, e.g. transactions=false (SPARSIFLOW_TRANSACTIONS)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    worker = dict(item.split("=", 1) for item in args.worker)
    engine = dict(item.split("=", 1) for item in args.engine) | {"mode": args.mode}
    stream = update_stream(delaunay(args.nodes, seed=1), 0.25, 0.01, seed=1)
    full = UpdateBatch.concat(
        [UpdateBatch.inserts(stream.base.u, stream.base.v, stream.base.w), stream.batch()]
    )
    small = update_stream(delaunay(2000, seed=2), 0.25, 0.01, seed=2)
    warm = UpdateBatch.concat(  # the same graph id, node ids far from the main graph's
        [UpdateBatch.inserts(small.base.u, small.base.v, small.base.w), small.batch()]
    )
    warm = UpdateBatch(warm.ops, warm.u + 2**40, warm.v + 2**40, warm.w)
    workdir = Path(tempfile.mkdtemp(prefix="bench-connector-"))
    broker = None
    if args.bootstrap_servers is None:
        from sparsiflow.connector.kafka.devbroker import LocalKafka

        broker = LocalKafka(workdir=workdir / "kafka")
        broker.start()
    bootstrap = args.bootstrap_servers or broker.bootstrap  # type: ignore[union-attr]
    conf = {"bootstrap.servers": bootstrap, "log_level": 3}
    results: dict[str, Any] = {}
    try:
        for form, updates in (("batch", full), ("single", full.slice(0, args.single_updates))):
            sustained = _phase(conf, workdir, form, updates, warm, engine, None, worker)
            rate = sustained["updates_per_s"] / 2
            timed = updates.slice(0, int(rate * args.latency_seconds))
            latency = _phase(conf, workdir, form, timed, warm, engine, rate, worker)
            results[form] = {
                "records_updates": PER_RECORD if form == "batch" else 1,
                "sustained": sustained,
                "at_half_rate": latency,
            }
            print(json.dumps({form: results[form]}), file=sys.stderr)
    finally:
        if broker is not None:
            broker.stop()
    out = {
        "benchmark": "connector_throughput",
        "graph": {"family": "delaunay", "nodes": args.nodes, "updates": len(full)},
        "engine": engine,
        "results": results,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "broker": "local" if broker else bootstrap,
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
