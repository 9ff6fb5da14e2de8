"""Run the stream processor: the Faust worker plus the Prometheus ``/metrics`` server."""

from __future__ import annotations

import logging

from sparsiflow.connector.settings import Settings

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "warning") -> int:
    """Run until SIGTERM/SIGINT (exit status 0) or a processing failure (exit status 1)."""
    import faust
    from prometheus_client import CollectorRegistry

    from sparsiflow.connector.kafka.app import create_app
    from sparsiflow.connector.kafka.topics import ensure_topics, partition_count
    from sparsiflow.connector.observability.metrics import WorkerMetrics, serve_metrics
    from sparsiflow.connector.settings import client_configs
    from sparsiflow.engine.engine import warm_up
    from sparsiflow.engine.walks.backends import make_backend

    configs = client_configs(settings.kafka)
    created = ensure_topics(configs, settings.topics)
    if created:
        log.warning("created topics %s", ", ".join(created))
    if settings.worker.state_dir is not None:
        settings.worker.state_dir.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    backend = make_backend(settings.engine.backend).name  # "auto" resolved, as engines do
    metrics.set_engine_info(backend=backend, mode=settings.engine.mode)
    metrics.set_kappa_bound(settings.engine.target_kappa)
    log.info("engine kernels ready in %.1f s", warm_up(settings.engine.config()))
    server = serve_metrics(registry, settings.worker.metrics_port)
    topics = settings.topics
    app = create_app(
        settings,
        partition_count(configs, topics.deltas_topic),
        metrics,
        partition_count(configs, topics.edges_topic) if topics.edges_topic else 0,
    )
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    log.warning(
        "sparsiflow worker: group %s, input %s, metrics on port %d",
        settings.worker.group_id,
        settings.topics.input_topic,
        server.port,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        server.close()
    crash = app._crash_reason or worker._crash_reason
    if crash is None:
        return status
    print(f"sparsiflow worker stopped: {_reason(crash)}", flush=True)
    return 1


def _reason(exc: BaseException) -> str:
    """The root cause of a crash, in one line (cause chains may loop: re-raised exceptions)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return " ".join(f"{type(exc).__name__}: {exc}".split())
