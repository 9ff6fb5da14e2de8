"""Run the stream processor: the Faust worker plus the Prometheus ``/metrics`` server."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sparsiflow.connector.kafka.transactions import PartitionTakenOverError
from sparsiflow.connector.settings import Settings
from sparsiflow.connector.stream.processor import WorkerPausedError
from sparsiflow.connector.wire.dead_letters import MIN_DLQ_BYTES, DeadLetterWriteError
from sparsiflow.engine.config import EngineConfig

__all__ = ["run_worker"]

log = logging.getLogger(__name__)

CRASH_EXIT_SECONDS = 30.0
"""After a crash the process ends within this many seconds, whatever its shutdown waits for:
Faust's has waited over 150 s on a consumer the group had dropped (a frozen worker, fenced
once woken). Nothing is lost by ending it: no offset is committed past a batch that failed."""


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run until SIGTERM/SIGINT (exit status 0) or a processing failure (exit status 1).
    Raises :class:`~sparsiflow.connector.kafka.preflight.StartError` at once when the state
    folder, the TLS files or the broker cannot be used."""
    import faust
    from prometheus_client import CollectorRegistry

    from sparsiflow.connector.kafka.app import create_app
    from sparsiflow.connector.kafka.preflight import preflight
    from sparsiflow.connector.kafka.process_tuning import tune_process
    from sparsiflow.connector.kafka.topics import accepted_bytes, ensure_topics, partition_count
    from sparsiflow.connector.observability.logs import logging_config, setup_worker_logging
    from sparsiflow.connector.observability.metrics import WorkerMetrics, serve_metrics
    from sparsiflow.connector.observability.progress import ProgressLog, read_totals
    from sparsiflow.engine.walks.backends import make_backend

    setup_worker_logging(loglevel)
    configs = preflight(settings)  # state dir, TLS files, broker: one line within seconds
    created = ensure_topics(configs, settings.topics)
    if created:
        log.warning("created topics %s", ", ".join(created))
    dlq_bytes = accepted_bytes(configs, settings.topics.dlq_topic)
    if dlq_bytes < MIN_DLQ_BYTES:
        log.warning(
            "dead-letter topic %s accepts only %d bytes per record batch: below %d, writing "
            "dead letters may fail (raise its max.message.bytes)",
            settings.topics.dlq_topic, dlq_bytes, MIN_DLQ_BYTES,
        )  # fmt: skip
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    backend = make_backend(settings.engine.backend).name  # "auto" resolved, as engines do
    metrics.set_engine_info(backend=backend, mode=settings.engine.mode)
    metrics.set_kappa_bound(settings.engine.target_kappa)
    _load_kernels(settings.engine.config())
    server = serve_metrics(registry, settings.worker.metrics_port)
    topics = settings.topics
    app = create_app(
        settings,
        partition_count(configs, topics.deltas_topic),
        metrics,
        partition_count(configs, topics.edges_topic) if topics.edges_topic else 0,
        dlq_max_bytes=dlq_bytes,
        input_partitions=partition_count(configs, topics.input_topic),
        progress=ProgressLog(
            settings.worker.group_id,
            topics.input_topic,
            {
                "deltas": topics.deltas_topic,
                "metrics": topics.metrics_topic,
                "dlq": topics.dlq_topic,
                "current-H": topics.edges_topic,
            },
            lambda: read_totals(registry),
        ),
    )
    tune_process()  # after assembly: what exists now is frozen out of collections
    worker = faust.Worker(
        app,
        loglevel=loglevel,
        logfile=sys.stderr,  # mode's colour and tables then follow stderr, not stdout
        logging_config=logging_config(loglevel),
        quiet=True,
        redirect_stdouts=False,
    )
    log.warning(
        "sparsiflow worker: group %s, input %s, metrics on port %d",
        settings.worker.group_id,
        settings.topics.input_topic,
        server.port,
    )
    reported = threading.Event()
    _exit_after_crash([app, worker], CRASH_EXIT_SECONDS, reported)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        server.close()
    crash = _crash([app, worker])
    if crash is None:
        return status
    _report(crash, reported)
    return 1


def _crash(services: Sequence[Any]) -> BaseException | None:
    """The crash reason of the first of ``services`` (mode services) that crashed."""
    return next((s.crash_reason for s in services if s.crash_reason is not None), None)


def _report(crash: BaseException, reported: threading.Event) -> None:
    """Print the stop line once."""
    if not reported.is_set():
        reported.set()
        print(f"sparsiflow worker stopped: {_reason(crash)}", flush=True)


def _exit_after_crash(
    services: Sequence[Any],
    grace: float,
    reported: threading.Event,
    end: Callable[[int], object] = os._exit,
) -> threading.Thread:
    """A daemon thread that ends the process with status 1 (``end``), the stop line printed,
    once ``grace`` seconds have passed since one of ``services`` crashed."""

    def watch() -> None:
        while (crash := _crash(services)) is None:
            time.sleep(0.5)
        time.sleep(grace)
        log.error("the shutdown after the crash did not end in %.0f s: exiting now", grace)
        _report(crash, reported)
        end(1)

    thread = threading.Thread(target=watch, name="sparsiflow-crash-exit", daemon=True)
    thread.start()
    return thread


def _load_kernels(config: EngineConfig) -> None:
    """Load the engine's kernels before the worker takes partitions (about a second from a
    warm cache; compiling them takes about 30 s, so the log says so first)."""
    from sparsiflow.engine import kernel_cache
    from sparsiflow.engine.engine import warm_up

    cache = kernel_cache.status()
    if not cache.warm:
        log.warning(
            "loading or compiling the engine's kernels (up to ~30 s; %s): `sparsiflow warmup` "
            "compiles them ahead, as the images do", cache.reason,
        )  # fmt: skip
    seconds = warm_up(config)
    loaded, compiled = kernel_cache.compile_counts()
    log.info(
        "engine kernels ready in %.1f s (%d loaded from the cache, %d compiled; cache %s)",
        seconds, loaded, compiled, cache.folder,
    )  # fmt: skip


def _reason(exc: BaseException) -> str:
    """The root cause of a crash, in one line; a dead-letter write failure is its own reason
    (its message names the topic and the cause), and so is a partition taken over by another
    worker (this one's transactional producer was fenced, or it was paused too long to take
    one). Cause chains may loop: mode
    re-raises the crash reason ``from`` itself, which replaces its cause; its context (the
    exception it was raised while handling) then stands in."""
    seen = {id(exc)}
    while not isinstance(exc, DeadLetterWriteError | PartitionTakenOverError | WorkerPausedError):
        cause = exc.__context__ if exc.__cause__ is exc else exc.__cause__
        if cause is None or id(cause) in seen:
            break
        exc = cause
        seen.add(id(exc))
    return " ".join(f"{type(exc).__name__}: {exc}".split())
