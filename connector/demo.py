"""The end-to-end demo behind ``sparsiflow demo``: a local broker, a worker subprocess, a
generated graph and update stream produced to the input topic, live progress from the output
topics, then H and G rebuilt from the topics and their exact quality. Leaves nothing running."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sparsiflow.connector.warmup import WarmUp
from sparsiflow.connector.wire.deltas import decode_delta
from sparsiflow.connector.wire.metrics_events import MetricsEvent, decode_metrics
from sparsiflow.workloads import Family

__all__ = ["DemoOptions", "run_demo"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    kind: Family = "delaunay"
    nodes: int = 10_000
    insert_frac: float = 0.25
    delete_frac: float = 0.01
    seed: int = 0
    records: str = "batch"
    mode: str = "default"
    target_kappa: float | None = 100.0
    graph: str = "demo"


@dataclass
class _Progress:
    """What the output topics told so far."""

    produced: int = 0
    batches: int = 0
    last_offset: int = -1
    metrics: MetricsEvent | None = None
    kappa: float | None = None  # the latest published estimate
    checked: int = -1  # the latest batch a published kappa check read
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() when the stream started
    first_delta: float | None = None  # seconds from the stream's start to its first delta


def run_demo(options: DemoOptions, say: Say) -> dict[str, Any]:
    """Run the demo; return its summary (raises on any failure, after cleaning up)."""
    from sparsiflow.connector.kafka.devbroker import LocalKafka, cache_dir
    from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env

    start = time.monotonic()

    def log(text: str) -> None:
        say(f"[{time.monotonic() - start:6.1f}s] {text}")

    workdir = Path(tempfile.mkdtemp(prefix="demo-", dir=_mkdir(cache_dir())))
    topics = {k: f"demo.{k}" for k in ("input", "deltas", "metrics", "dlq", "edges")}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        kernels = _compile_kernels(stack, log)
        log("starting a local Apache Kafka broker (KRaft) ...")
        broker = LocalKafka(workdir=workdir / "kafka")
        with _quiet_stderr():
            broker.start()
        stack.callback(broker.stop)
        if kernels is not None:
            log(f"kernels: {kernels.result().describe()}")
        log(f"broker ready at {broker.bootstrap}; starting a worker ...")
        target = "off" if options.target_kappa is None else str(options.target_kappa)
        env = worker_env(
            broker.bootstrap, topics, f"demo-{uuid.uuid4().hex[:6]}",
            engine_mode=options.mode, topic_partitions="2", batch_max_size="2000",
            engine_target_kappa=target,
        )  # fmt: skip
        worker = WorkerProcess(env, workdir / "worker.log").start()
        stack.callback(worker.stop)
        updates, base_edges = _stream(options, log)
        conf: dict[str, Any] = {"bootstrap.servers": broker.bootstrap, "log_level": 3}
        progress = _Progress(started=time.monotonic())
        sender = threading.Thread(
            target=_produce, args=(conf, topics["input"], options, updates, progress), daemon=True
        )
        sender.start()
        _follow(conf, topics, options.graph, sender, progress, worker, log)
        elapsed = time.monotonic() - start
        log(
            "rebuilding H and G from the topics (the client library, as sparsiflow materialize) ..."
        )
        summary = _quality(conf, topics, options.graph, options.target_kappa, log)
        if worker.stop() != 0:
            raise RuntimeError(f"the worker did not stop cleanly:\n{worker.diagnosis()}")
        lat = np.array(progress.latencies or [0.0])
        first = progress.first_delta
        summary |= {
            "updates": len(updates),
            "base_edges": base_edges,
            "batches": progress.batches,
            "event_to_delta_p50_s": round(float(np.percentile(lat, 50)), 4),
            "event_to_delta_p99_s": round(float(np.percentile(lat, 99)), 4),
            "first_delta_s": first if first is None else round(first, 2),
            "stream_seconds": round(elapsed, 1),
        }
    log("stopped the worker and the broker")
    return summary


def _compile_kernels(stack: contextlib.ExitStack, log: Say) -> Future[WarmUp] | None:
    """When the kernel cache is cold, say so and compile every kernel in a thread (while the
    broker starts), so that the worker loads them; None when they are cached."""
    from sparsiflow.connector.warmup import warm_up_all
    from sparsiflow.engine import kernel_cache

    if kernel_cache.status().warm:
        return None
    log("compiling the engine's kernels (first run only, ~30 s) ...")
    pool = stack.enter_context(ThreadPoolExecutor(1, "kernels"))
    return pool.submit(warm_up_all)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence librdkafka's connection-refused lines while the broker boots (fd level)."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _stream(options: DemoOptions, log: Say) -> tuple[Any, int]:
    from sparsiflow.engine.graph.updates import UpdateBatch
    from sparsiflow.workloads import families as generate
    from sparsiflow.workloads.streams import update_stream

    full = generate.build(options.kind, options.nodes, seed=options.seed)
    stream = update_stream(full, options.insert_frac, options.delete_frac, options.seed)
    base = UpdateBatch.inserts(stream.base.u, stream.base.v, stream.base.w)
    updates = UpdateBatch.concat([base, stream.batch()])
    log(
        f"generated {options.kind} graph: {full.n} nodes; streaming {stream.base.m} edges as "
        f"insertions, then {len(stream.batch())} updates ({options.records} records)"
    )
    return updates, stream.base.m


def _produce(
    conf: dict[str, Any], topic: str, options: DemoOptions, updates: Any, progress: _Progress
) -> None:
    from sparsiflow.connector.kafka.produce import produce

    def sent(n: int) -> None:
        progress.produced += n

    report = produce(
        conf, topic, options.graph, updates, records="single" if options.records == "single"
        else "batch", per_record=1000, progress=sent,
    )  # fmt: skip
    progress.last_offset = max(report.last_offsets.values())


def _follow(
    conf: dict[str, Any],
    topics: dict[str, str],
    graph: str,
    sender: threading.Thread,
    progress: _Progress,
    worker: Any,
    log: Say,
    timeout: float = 600.0,
) -> None:
    """Tail the deltas and metrics topics until the deltas cover the last produced record and
    a kappa check of the final graph has entered (the worker settles a quiet graph)."""
    from confluent_kafka import Consumer

    from sparsiflow.connector.kafka.reader_config import reader_config

    consumer = Consumer({**reader_config(conf, "demo-follow"), "auto.offset.reset": "earliest"})
    consumer.subscribe([topics["deltas"], topics["metrics"]])
    covered, shown, deadline = -1, 0.0, time.monotonic() + timeout
    ends: list[tuple[int, int]] = []  # (last offset, batch) of each delta
    final: int | None = None  # the batch that covered the last record
    try:
        while sender.is_alive() or final is None or progress.checked < final:
            if time.monotonic() > deadline or not worker.alive():
                raise RuntimeError(f"the worker stalled or died:\n{worker.diagnosis()}")
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None and msg.key() == graph.encode():
                if msg.topic() == topics["deltas"]:
                    delta = decode_delta(msg.value())
                    if progress.first_delta is None:
                        progress.first_delta = time.monotonic() - progress.started
                        log(f"first delta {progress.first_delta:.1f} s after the stream started")
                    covered = max(covered, delta.source.last_offset)
                    progress.batches = delta.batch + 1
                    ends.append((delta.source.last_offset, delta.batch))
                else:
                    progress.metrics = decode_metrics(msg.value())
                    progress.latencies.append(progress.metrics.latency_seconds)
                    progress.kappa = progress.metrics.kappa or progress.kappa
                    progress.checked = max(progress.checked, progress.metrics.kappa_batch or -1)
            if final is None and not sender.is_alive() and covered >= progress.last_offset:
                final = min(batch for end, batch in ends if end >= progress.last_offset)
                log("every update is in a delta; waiting for a kappa check of the final graph")
            if time.monotonic() - shown >= 1.0 and progress.metrics is not None:
                shown = time.monotonic()
                m = progress.metrics
                log(
                    f"produced {progress.produced:>8} updates | batch {m.batch:>4} | G "
                    f"{m.stats.edges_graph:>7} edges | H {m.stats.edges_sparsifier:>7} edges | "
                    f"off-tree density {m.stats.off_tree_density:.3f} | kappa "
                    f"{'-' if progress.kappa is None else f'{progress.kappa:.1f}'} | latency "
                    f"{m.latency_seconds * 1000:6.0f} ms"
                )
    finally:
        consumer.close()
    log(f"all {progress.produced} updates are reflected in {progress.batches} deltas")


def _quality(
    conf: dict[str, Any], topics: dict[str, str], graph: str, target: float | None, log: Say
) -> dict[str, Any]:
    from sparsiflow.connector.downstream.materialize import materialize
    from sparsiflow.connector.observability.kappa import dense_pair
    from sparsiflow.engine.bootstrap import static_sparsifier
    from sparsiflow.engine.quality.exact import measure

    state = materialize(
        conf, topics["deltas"], graph, input_topic=topics["input"], edges_topic=topics["edges"]
    )
    history = materialize(conf, topics["deltas"], graph)
    if state.sparsifier.edges != history.sparsifier.edges:
        raise RuntimeError("H from the current-H topic differs from H replayed from all deltas")
    where = "no position" if state.position is None else f"position at batch {state.position.batch}"
    log(
        f"H loaded from the current-H topic ({where}) equals H replayed from all "
        f"{history.batches} deltas: {len(history.sparsifier)} edges"
    )
    assert state.input is not None
    g, h = dense_pair(state.input.columns(), state.sparsifier.columns())
    report = measure(g, h)
    stats = report.stats
    summary: dict[str, Any] = {
        **stats.figures(),
        "density": round(stats.density, 4),
        "off_tree_density": round(stats.off_tree_density, 4),
        "components": report.components,
        "kappa": round(report.kappa, 3),
        "kappa_method": report.method,
        "quality_seconds": round(report.seconds, 2),
    }
    log(
        f"final quality: kappa {report.kappa:.2f} ({report.method}), density "
        f"{stats.density:.3f}, off-tree density {stats.off_tree_density:.3f}, |G| {g.m}, "
        f"|H| {h.m}, components {report.components}"
    )
    rebuilt = measure(g, g.subset(static_sparsifier(g.n, g.u, g.v, g.w, stats.off_tree_density)))
    summary["kappa_static_same_density"] = round(rebuilt.kappa, 3)
    promise = (
        "no kappa target (measured only)"
        if target is None
        else f"target kappa {target:g} {'held' if report.kappa <= target else 'NOT held'}"
    )
    log(
        f"{promise}: exact kappa {report.kappa:.1f} with {stats.off_tree_density:.1%} of |V| "
        f"off-tree edges; a static sparsifier of the final G at that density has kappa "
        f"{rebuilt.kappa:.1f}"
    )
    return summary
