"""The bundle's /metrics endpoint over loopback: promtool-clean, covers every metric the dashboard
and alerts use, and a real Prometheus server scrapes it, evaluates the rules and answers queries.

The worker's own endpoint gets the same checks in the worker's end-to-end test; here the
bundle is fed directly, so the path from bundle to Prometheus is proven without a broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_server import http_get, run_prometheus, wait_for
from promql_sources import alert_exprs, missing_metrics, promtool_check_metrics

from sparsiflow.connector.observability.metrics import MetricsServer, WorkerMetrics, serve_metrics
from sparsiflow.engine.results import BatchReport, Delta, GraphStats


@pytest.fixture
def endpoint() -> Iterator[MetricsServer]:
    """A bundle with one of everything recorded, served on a free loopback port."""
    metrics = WorkerMetrics(registry := CollectorRegistry())
    stats = GraphStats(nodes=1000, edges_graph=4000, edges_sparsifier=1100, components=1)
    report = BatchReport(batch=1, delta=Delta(), stats=stats, inserted=500, critical=40,
                         walker_steps=20_000, seconds={"walk": 0.02})  # fmt: skip
    metrics.record_consumed(500)
    metrics.record_rejected("self_loop")
    metrics.record_batch("g1", report, updates=500, event_to_delta_seconds=0.08,
                         publish_seconds=0.005)  # fmt: skip
    metrics.record_kappa("g1", 250.0)
    metrics.set_kappa_bound(100.0)
    metrics.set_consumer_lag({("edge-updates", 0): 12})
    metrics.record_checkpoint(seconds=0.2, size_bytes=65536)
    metrics.set_engine_info(backend="numpy", mode="default")
    metrics.set_worker_up(True)
    with serve_metrics(registry, port=0, addr="127.0.0.1") as server:
        yield server


def test_scrape_is_promtool_clean_and_covers_dashboard_and_alerts(
    endpoint: MetricsServer,
) -> None:
    body = http_get(f"http://127.0.0.1:{endpoint.port}/metrics")
    done = promtool_check_metrics(body)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    assert missing_metrics(body.decode()) == {}
    assert b"sparsiflow_engine_info{" in body


def test_prometheus_scrapes_the_endpoint_and_evaluates_the_rules(
    endpoint: MetricsServer, tmp_path: Path
) -> None:
    with run_prometheus(f"127.0.0.1:{endpoint.port}", tmp_path) as prometheus:
        series = wait_for(
            lambda: prometheus.query('sparsiflow_events_consumed_total{job="sparsiflow"}'),
            "Prometheus to scrape the endpoint",
        )
        assert float(series[0]["value"][1]) == 500

        def kappa_alert() -> list[dict[str, Any]]:
            alerts = prometheus.api("alerts")["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "SparsiflowKappaAboveBound"]

        (alert,) = wait_for(kappa_alert, "the kappa alert")
        assert alert["state"] == "pending"  # `for: 15m` not yet elapsed
        assert alert["labels"]["graph"] == "g1"
        rules = [r for group in prometheus.api("rules")["groups"] for r in group["rules"]]
        assert {r["name"] for r in rules} == set(alert_exprs())
        assert all(r["health"] != "err" for r in rules), rules
        (lag,) = prometheus.query("sum by (topic) (sparsiflow_consumer_lag_records)")
        assert lag["metric"] == {"topic": "edge-updates"}
        assert float(lag["value"][1]) == 12
