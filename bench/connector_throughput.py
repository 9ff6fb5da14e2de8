"""End-to-end throughput and latency of the worker through a real broker (DESIGN.md section 9).

    python -m bench.connector_throughput [--bootstrap-servers HOST:PORT] [--nodes 131072]
        [--single-updates 200000] [--latency-seconds 20] [--mode default] [--out FILE]
        [--engine KEY=VALUE ...] [--worker KEY=VALUE ...]  (e.g. --worker transactions=false)
        [--forms batch,single] [--phases catch_up,sustained,at_half_rate] [--rate R] [--scale-out]

The stream: a delaunay graph as insertions, then 25 % |V| insertions and 1 % |V| deletions. For
each record form (batch-form records of 1000 updates, single-update records), each phase with
a fresh worker that first takes a small warm-up graph (JIT, first batch):
- catch_up: the warm-up records and the whole backlog are in the input topic before the worker
  starts; rate = backlog updates / (time of the last delta - time of the warm-up's last delta);
- sustained (live): the backlog is written while the worker drains it; rate = updates / (time of
  the last delta - when the backlog started);
- at_half_rate (live): the stream produced at half the sustained rate; per input record,
  event-to-delta latency = delta ``produced_at`` - the record's Kafka timestamp (``--rate``:
  at that rate instead, without the sustained phase unless asked for).
``--scale-out``: catch-up of two graphs on two input partitions, by one worker and by two (same
run, same machine: on 2 cores the two workers share them with the broker).
Starts a local broker unless ``--bootstrap-servers`` is given. Prints JSON with machine info.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from threadpoolctl import threadpool_limits

from bench.emit import emit
from bench.local_broker import broker_for
from bench.machine import machine_info
from sparsiflow.connector.kafka.produce import produce
from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.settings import EngineSettings
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream

PER_RECORD = 1000
GRAPHS = ("g1.0", "g.1")
"""Graph ids of the bench; with two input partitions, on partitions 0 and 1 (murmur2)."""
Settings = tuple[dict[str, str], dict[str, str]]
"""Engine settings and other worker settings (``SPARSIFLOW_ENGINE_<K>``, ``SPARSIFLOW_<K>``)."""


def _topics(conf: dict[str, Any]) -> dict[str, str]:
    """Fresh topic names; the input topic is created with a partition per graph of
    :data:`GRAPHS` (records are written before the worker creates the others)."""
    stem = uuid.uuid4().hex[:8]
    names = {k: f"bench-{stem}-{k}" for k in ("input", "deltas", "metrics", "dlq")}
    admin = AdminClient({"bootstrap.servers": conf["bootstrap.servers"]})
    new = NewTopic(names["input"], num_partitions=len(GRAPHS), replication_factor=1)
    admin.create_topics([new])[names["input"]].result(timeout=30)
    return names


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
    """Produce ``graph``'s records (to the partition its id hashes to; warm-up and main run of
    a graph stay in order); the last offset."""
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


def _worker(
    conf: dict[str, Any], workdir: Path, topics: dict[str, str], group: str, settings: Settings
) -> WorkerProcess:
    engine, extra = settings
    env = worker_env(
        conf["bootstrap.servers"], topics, group, topic_partitions=str(len(GRAPHS)),
        **{f"engine_{k}": v for k, v in engine.items()}, **extra,
    )  # fmt: skip
    return WorkerProcess(env, workdir / f"worker-{topics['input']}-{uuid.uuid4().hex[:4]}.log")


def _catch_up(
    conf: dict[str, Any],
    workdir: Path,
    form: str,
    updates: UpdateBatch,
    warm: UpdateBatch,
    settings: Settings,
    graphs: int = 1,
    workers: int = 1,
) -> dict[str, Any]:
    """Warm-up and backlog of ``graphs`` graphs (one per input partition) preloaded, then
    ``workers`` workers of one group drain them. Rate: the updates of every delta after the
    first one published / the time from that first delta to the last one (the first covers
    the workers' start; the warm-up graph's first batch takes the kernels' first runs)."""
    topics = _topics(conf)
    names = GRAPHS[:graphs]
    ends = {}
    for g in names:
        _send(conf, topics["input"], g, warm, form)
        ends[g] = _send(conf, topics["input"], g, updates, form)
    group = f"bench-{uuid.uuid4().hex[:6]}"
    procs = [_worker(conf, workdir, topics, group, settings).start() for _ in range(workers)]
    try:
        deltas = {g: _wait(conf, topics, g, ends[g], procs[0]) for g in names}
    finally:
        for proc in procs:
            proc.stop()
    sizes = [len(r) for r in _records(form, warm, updates)]
    begun = min(d[0]["produced_at"] for d in deltas.values())
    counted = sum(
        sum(sizes[d["source"]["first_offset"] : d["source"]["last_offset"] + 1])
        for found in deltas.values()
        for d in found
        if d["produced_at"] > begun
    )
    seconds = max(d[-1]["produced_at"] for d in deltas.values()) - begun
    return {
        "graphs": graphs,
        "workers": workers,
        "updates": counted,
        "seconds": round(seconds, 3),
        "updates_per_s": round(counted / seconds),
        "records_per_s": round(counted / seconds / (PER_RECORD if form == "batch" else 1)),
        "batches": sum(len(d) for d in deltas.values()),
    } | (
        _engine_time(conf, topics, form, warm, updates, deltas[names[0]], settings[0])
        if graphs == 1
        else {}
    )


def _records(form: str, warm: UpdateBatch, updates: UpdateBatch) -> list[UpdateBatch]:
    """The updates of each input record of a graph, by offset (warm-up, then the stream)."""
    per = PER_RECORD if form == "batch" else 1
    return [
        part.slice(start, start + per)
        for part in (warm, updates)
        for start in range(0, len(part), per)
    ]


def _engine_time(
    conf: dict[str, Any],
    topics: dict[str, str],
    form: str,
    warm: UpdateBatch,
    updates: UpdateBatch,
    deltas: list[dict[str, Any]],
    engine: dict[str, str],
) -> dict[str, Any]:
    """Engine time per batch in the worker (its metrics events) against the same batches
    applied here, one after the other, with nothing else running: how much the worker's
    intake slows the engine down (GIL and CPU contention)."""
    records = _records(form, warm, updates)
    graph = GRAPHS[0].encode()
    worker = [
        orjson.loads(m.value())["engine_seconds"]
        for m in read_topic(conf, topics["metrics"])
        if m.key() == graph
    ]
    engine_ = Engine(EngineSettings(**engine).config(), graph_id=GRAPHS[0])  # type: ignore[arg-type]
    inline = []
    blas = threadpool_limits(limits=1, user_api="blas")  # as in the worker (process_tuning)
    for d in deltas:
        source = d["source"]
        covered = records[source["first_offset"] : source["last_offset"] + 1]
        batch = UpdateBatch.concat(covered or [records[0].slice(0, 0)])  # a settling batch
        started = time.perf_counter()
        engine_.apply(batch)
        inline.append(time.perf_counter() - started)
    engine_.close()
    blas.restore_original_limits()
    return {
        "engine_seconds_worker": round(sum(worker), 3),
        "engine_seconds_inline": round(sum(inline), 3),
        "engine_slowdown_in_worker": round(sum(worker) / max(sum(inline), 1e-9), 2),
    }


def _live(
    conf: dict[str, Any],
    workdir: Path,
    form: str,
    updates: UpdateBatch,
    warm: UpdateBatch,
    settings: Settings,
    rate: float | None,
) -> dict[str, Any]:
    """The stream written while a warmed-up worker takes it: as fast as the producer goes
    (``rate`` None: the sustained rate) or at ``rate`` (latency)."""
    topics = _topics(conf)
    graph = GRAPHS[0]
    group = f"bench-{uuid.uuid4().hex[:6]}"
    with _worker(conf, workdir, topics, group, settings) as worker:
        warm_last = _send(conf, topics["input"], graph, warm, form)
        warm_deltas = _wait(conf, topics, graph, warm_last, worker)
        started = warm_deltas[-1]["produced_at"]
        if rate is None:  # sustained: the whole backlog first, then measure the drain
            last = _send(conf, topics["input"], graph, updates, form)
            deltas = _wait(conf, topics, graph, last, worker)[len(warm_deltas) :]
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
            target=_send, args=(conf, topics["input"], graph, updates, form, rate)
        )
        sender.start()
        sender.join()
        last = max(m.offset() for m in read_topic(conf, topics["input"]) if m.partition() == 0)
        deltas = _wait(conf, topics, graph, last, worker)[len(warm_deltas) :]
        stamps = {
            m.offset(): m.timestamp()[1] / 1000
            for m in read_topic(conf, topics["input"])
            if m.partition() == 0
        }
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
        if msg.partition() == 0 and msg.offset() == offset:
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
    parser.add_argument(
        "--rate", type=float, help="updates/s of at_half_rate (default: half the sustained rate)"
    )
    parser.add_argument("--forms", default="batch,single", help="record forms to measure")
    parser.add_argument("--phases", default="catch_up,sustained,at_half_rate")
    parser.add_argument("--scale-out", action="store_true", help="also 2 graphs: 1 vs 2 workers")
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
    bootstrap, broker = broker_for(args.bootstrap_servers, workdir)
    conf = {"bootstrap.servers": bootstrap, "log_level": 3}
    results: dict[str, Any] = {}
    settings = (engine, worker)
    phases = args.phases.split(",")
    try:
        for form in args.forms.split(","):
            updates = full if form == "batch" else full.slice(0, args.single_updates)
            found: dict[str, Any] = {"records_updates": PER_RECORD if form == "batch" else 1}
            results[form] = found
            if "catch_up" in phases:
                found["catch_up"] = _catch_up(conf, workdir, form, updates, warm, settings)
            if args.scale_out:
                found["scale_out"] = [
                    _catch_up(conf, workdir, form, updates, warm, settings, 2, workers)
                    for workers in (1, 2)
                ]
            if "sustained" in phases or ("at_half_rate" in phases and args.rate is None):
                found["sustained"] = _live(conf, workdir, form, updates, warm, settings, None)
            if "at_half_rate" in phases:
                rate = args.rate or found["sustained"]["updates_per_s"] / 2
                timed = updates.slice(0, int(rate * args.latency_seconds))
                found["at_half_rate"] = _live(conf, workdir, form, timed, warm, settings, rate)
            print(json.dumps({form: found}), file=sys.stderr)
    finally:
        if broker is not None:
            broker.stop()
    out = {
        "benchmark": "connector_throughput",
        "graph": {"family": "delaunay", "nodes": args.nodes, "updates": len(full)},
        "engine": engine,
        "results": results,
        "machine": machine_info() | {"broker": "local" if broker else bootstrap},
    }
    return emit(out, args.out)


if __name__ == "__main__":
    sys.exit(main())
