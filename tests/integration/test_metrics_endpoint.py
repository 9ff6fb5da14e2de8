"""The bundle's /metrics endpoint over loopback: promtool-clean, covers every metric the dashboard
and alerts use, and a real Prometheus server scrapes it, evaluates the rules and answers queries.

The worker's own endpoint gets the same checks in the worker's end-to-end test; here the
bundle is fed directly, so the path from bundle to Prometheus is proven without a broker.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from promql_sources import ALERTS, alert_exprs, dashboard_exprs, metric_names

from connector.metrics import MetricsServer, WorkerMetrics, serve_metrics
from engine.results import BatchReport, Delta, GraphStats

# Series Prometheus itself adds to every target.
SCRAPE_SERIES = {"up"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


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
    body = _get(f"http://127.0.0.1:{endpoint.port}/metrics")
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    exported = {
        sample.name
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    for source, exprs in (("dashboard", dashboard_exprs()), ("alerts", alert_exprs())):
        for where, expr in exprs.items():
            missing = metric_names(expr) - exported - SCRAPE_SERIES
            assert not missing, f"{source} {where} uses metrics nobody exports: {missing}"
    assert exported >= {"sparsiflow_events_consumed_total", "sparsiflow_engine_info"}


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = json.loads(_get(url))
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except OSError:  # server not listening yet
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check.__doc__}")
        time.sleep(0.5)


@pytest.fixture
def prometheus(endpoint: MetricsServer, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus server on a free loopback port scraping ``endpoint`` with our rules."""
    rules = tmp_path / "sparsiflow-alerts.yaml"
    shutil.copy(ALERTS, rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "sparsiflow",
                "static_configs": [{"targets": [f"127.0.0.1:{endpoint.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode in (0, -15), (tmp_path / "prometheus.log").read_text()


def test_prometheus_scrapes_the_endpoint_and_evaluates_the_rules(prometheus: str) -> None:
    def consumed() -> list[dict[str, Any]]:
        """the scraped sparsiflow_events_consumed_total"""
        return _query(prometheus, 'sparsiflow_events_consumed_total{job="sparsiflow"}')

    series = _wait_for(consumed)
    assert float(series[0]["value"][1]) == 500

    def kappa_pending() -> list[dict[str, Any]]:
        """the kappa alert to be pending"""
        alerts = json.loads(_get(f"{prometheus}/api/v1/alerts"))["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "SparsiflowKappaAboveBound"]

    (alert,) = _wait_for(kappa_pending)
    assert alert["state"] == "pending"  # `for: 15m` not yet elapsed
    assert alert["labels"]["graph"] == "g1"

    groups = json.loads(_get(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {r["name"] for r in rules} == set(alert_exprs())
    assert all(r["health"] != "err" for r in rules), rules
    (lag,) = _query(prometheus, "sum by (topic) (sparsiflow_consumer_lag_records)")
    assert lag["metric"] == {"topic": "edge-updates"}
    assert float(lag["value"][1]) == 12
