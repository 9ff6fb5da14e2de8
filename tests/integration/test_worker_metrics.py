"""A running ``sparsiflow worker`` on the test broker: its /metrics moves as records flow, reports
the worker up, covers every metric the dashboard and alerts use (consumer lag and checkpoints
included), passes promtool, and a real Prometheus server scrapes it and answers a query for one
of our metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import free_port, http_get, run_prometheus, wait_for
from promql_sources import missing_metrics, promtool_check_metrics

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
) -> Iterator[tuple[str, str]]:
    """A worker on fresh topics; yields (its /metrics URL, its input topic)."""
    topics = {
        flag: create_topic(unique_name(flag), partitions=2 if flag == "INPUT" else 1)
        for flag in ("INPUT", "DELTAS", "METRICS", "DLQ")
    }
    port = free_port()
    state = tmp_path / "state" / "worker"  # missing: the worker creates it
    env = {
        **os.environ,
        **{f"SPARSIFLOW_{flag}_TOPIC": name for flag, name in topics.items()},
        "SPARSIFLOW_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SPARSIFLOW_GROUP_ID": unique_name("group"),
        "SPARSIFLOW_METRICS_PORT": str(port),
        "SPARSIFLOW_STATE_DIR": str(state),
        "SPARSIFLOW_KAPPA_EVERY": "1",
        "SPARSIFLOW_CHECKPOINT_EVERY_BATCHES": "1",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "sparsiflow"), "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}/metrics", topics["INPUT"]
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, log_path.read_text()[-4000:]


def produce(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for u in range(1, EDGES + 1):
        update = {"graph": GRAPH, "op": "insert", "u": u, "v": u + 1, "w": 1.0}
        producer.produce(topic, key=GRAPH.encode(), value=json.dumps(update).encode())
    producer.produce(topic, key=GRAPH.encode(), value=b"{not json")
    loop = {"graph": GRAPH, "op": "insert", "u": 7, "v": 7, "w": 1.0}
    producer.produce(topic, key=GRAPH.encode(), value=json.dumps(loop).encode())
    assert producer.flush(30) == 0


def test_worker_metrics_follow_the_stream(
    worker: tuple[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    url, input_topic = worker
    before = samples(wait_for(lambda: http_get(url).decode(), "the worker's /metrics", 120))
    assert value(before, "sparsiflow_events_consumed_total") == 0
    produce(kafka_bootstrap, input_topic)

    def settled() -> Samples | None:
        """every record consumed and the graph's figures published"""
        found = samples(http_get(url).decode())
        done = value(found, "sparsiflow_events_consumed_total") == EDGES + 2
        edges = value(found, "sparsiflow_graph_edges", graph=GRAPH) == EDGES
        return found if done and edges else None

    after = wait_for(settled, "the worker to process the records", 120)
    rejected = "sparsiflow_events_rejected_total"
    assert value(after, rejected, reason="malformed_json") == 1
    assert value(after, rejected, reason="self_loop") == 1
    assert value(after, "sparsiflow_updates_applied_total", graph=GRAPH, op="insert") == EDGES
    assert value(after, "sparsiflow_sparsifier_edges", graph=GRAPH) == EDGES
    assert value(after, "sparsiflow_graph_components", graph=GRAPH) == 1
    assert (value(after, "sparsiflow_batches_total", graph=GRAPH) or 0) >= 1
    assert (value(after, "sparsiflow_event_to_delta_seconds_count") or 0) >= 1
    assert value(after, "sparsiflow_worker_up") == 1
    (info,) = [dict(labels) for name, labels in after if name == "sparsiflow_engine_info"]
    assert info["backend"] in {"numba", "numpy", "cupy"}  # what "auto" resolved to

    def lagged() -> bytes | None:
        """a scrape with the consumer-lag gauge (exported every few seconds)"""
        body = http_get(url)
        return body if b"sparsiflow_consumer_lag_records{" in body else None

    body = wait_for(lagged, "the consumer-lag gauge", 60)
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
