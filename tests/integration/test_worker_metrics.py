"""A running ``sparsiflow worker`` on the test broker: its /metrics moves as records flow, reports
the worker up, covers every metric the dashboard and alerts use (consumer lag and checkpoints
included), passes promtool, and a real Prometheus server scrapes it and answers a query for one
of our metrics."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import free_port, http_get, run_prometheus, wait_for
from promql_sources import missing_metrics, promtool_check_metrics

from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env

GRAPH = "g1"
EDGES = 40  # a path 1-2-...-41: every edge is critical, so H == G

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(body: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
def worker(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> Iterator[tuple[str, str, WorkerProcess]]:
    """A worker on fresh topics; yields (its /metrics URL, its input topic, the process)."""
    topics = {
        kind: create_topic(unique_name(kind), partitions=2 if kind == "input" else 1)
        for kind in ("input", "deltas", "metrics", "dlq")
    }
    port = free_port()
    state = tmp_path / "state" / "worker"  # missing: the worker creates it
    env = worker_env(
        kafka_bootstrap,
        topics,
        unique_name("group"),
        metrics_port=str(port),
        state_dir=str(state),
        engine_kappa_change="1e-9",  # a check after every batch; H = G on a path: the shape
        batch_max_size="5",  # where the estimator once failed
        checkpoint_every_batches="1",
    )
    command = (str(Path(sys.executable).parent / "sparsiflow"), "worker")  # the user's command
    process = WorkerProcess(env, tmp_path / "worker.log", command).start()
    try:
        yield f"http://127.0.0.1:{port}/metrics", topics["input"], process
    finally:
        code = process.stop()
    assert code == 0, process.diagnosis()


def produce(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for u in range(1, EDGES + 1):
        update = {"graph": GRAPH, "op": "insert", "u": u, "v": u + 1, "w": 1.0}
        producer.produce(topic, key=GRAPH.encode(), value=json.dumps(update).encode())
    producer.produce(topic, key=GRAPH.encode(), value=b"{not json")
    loop = {"graph": GRAPH, "op": "insert", "u": 7, "v": 7, "w": 1.0}
    producer.produce(topic, key=GRAPH.encode(), value=json.dumps(loop).encode())
    assert producer.flush(30) == 0


def test_worker_metrics_follow_the_stream(
    worker: tuple[str, str, WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    url, input_topic, process = worker
    why = process.diagnosis
    before = samples(wait_for(lambda: http_get(url).decode(), "the worker's /metrics", 120, why))
    assert value(before, "sparsiflow_events_consumed_total") == 0
    produce(kafka_bootstrap, input_topic)

    def settled() -> Samples | None:
        """every record consumed and the graph's figures published"""
        found = samples(http_get(url).decode())
        done = value(found, "sparsiflow_events_consumed_total") == EDGES + 2
        edges = value(found, "sparsiflow_graph_edges", graph=GRAPH) == EDGES
        return found if done and edges else None

    after = wait_for(settled, "the worker to process the records", 120, why)
    rejected = "sparsiflow_events_rejected_total"
    assert value(after, rejected, reason="malformed_json") == 1
    assert value(after, rejected, reason="self_loop") == 1
    assert value(after, "sparsiflow_updates_applied_total", graph=GRAPH, op="insert") == EDGES
    assert value(after, "sparsiflow_sparsifier_edges", graph=GRAPH) == EDGES
    assert value(after, "sparsiflow_graph_components", graph=GRAPH) == 1
    assert (value(after, "sparsiflow_batches_total", graph=GRAPH) or 0) >= 1
    assert (value(after, "sparsiflow_event_to_delta_seconds_count") or 0) >= 1
    assert value(after, "sparsiflow_worker_up") == 1
    assert value(after, "sparsiflow_kappa", graph=GRAPH) == pytest.approx(1.0)  # H = G
    (info,) = [dict(labels) for name, labels in after if name == "sparsiflow_engine_info"]
    assert info["backend"] in {"numba", "numpy", "cupy"}  # what "auto" resolved to

    def lagged() -> bytes | None:
        """a scrape with the consumer-lag gauge (exported every few seconds)"""
        body = http_get(url)
        return body if b"sparsiflow_consumer_lag_records{" in body else None

    body = wait_for(lagged, "the consumer-lag gauge", 60, why)
    assert missing_metrics(body.decode()) == {}
    scraped = samples(body.decode())
    assert (value(scraped, "sparsiflow_checkpoint_duration_seconds_count") or 0) >= 1
    assert (value(scraped, "sparsiflow_checkpoint_size_bytes") or 0) > 0
    done = promtool_check_metrics(body)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()

    target = url.removeprefix("http://").removesuffix("/metrics")
    with run_prometheus(target, tmp_path) as prometheus:
        query = f'sparsiflow_graph_edges{{job="sparsiflow", graph="{GRAPH}"}}'
        (series,) = wait_for(lambda: prometheus.query(query), "Prometheus to scrape the worker")
        assert float(series["value"][1]) == EDGES
