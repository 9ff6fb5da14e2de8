"""Memory of many tiny graphs in one worker: its resident set before any graph, with ``--graphs``
graphs of one edge each resident, and after they are evicted to the state folder.

    python -m bench.graph_memory [--bootstrap-servers HOST:PORT] [--graphs 1000] [--out FILE]

A real ``sparsiflow worker`` on fresh topics (``SPARSIFLOW_MAX_GRAPHS`` above ``--graphs``, idle
eviction after ``--idle-seconds``, 0: none); the resident set is the worker's own
``process_resident_memory_bytes`` from /metrics. Starts a local broker unless
``--bootstrap-servers``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from bench.emit import emit
from bench.machine import machine_info
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env


def _scrape(url: str) -> dict[str, float]:
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            label = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{label}}}" if label else s.name] = s.value
    return out


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def measure(bootstrap: str, graphs: int, idle_seconds: float, folder: Path) -> dict[str, Any]:
    """The worker's resident set at start, with ``graphs`` resident, and once they are evicted."""
    stem = uuid.uuid4().hex[:8]
    topics = {k: f"bench-memory-{stem}-{k}" for k in ("input", "deltas", "metrics", "dlq")}
    port = 20000 + int(stem[:4], 16) % 20000
    url = f"http://127.0.0.1:{port}/metrics"
    env = worker_env(
        bootstrap, topics, f"bench-memory-{stem}", metrics_port=str(port),
        state_dir=str(folder / "state"), max_graphs=str(graphs + 10),
        graph_idle_seconds=str(idle_seconds), partitions="1",
    )  # fmt: skip
    rss = "process_resident_memory_bytes"
    with WorkerProcess(env, folder / "worker.log") as worker:
        worker.wait_until(lambda: _scrape(url).get("sparsiflow_worker_up") == 1, 120, "start")
        time.sleep(2.0)
        start = _scrape(url)[rss]
        producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
        for i in range(graphs):
            graph = f"tiny-{i}"
            value = orjson.dumps({"graph": graph, "op": "insert", "u": 0, "v": 1, "w": 1.0})
            producer.produce(topics["input"], value, graph.encode())
        assert producer.flush(60) == 0
        key = "sparsiflow_batches_total"
        _wait(lambda: sum(v for k, v in _scrape(url).items() if k.startswith(key)) >= graphs,
              300, "a batch per graph")  # fmt: skip
        resident = _scrape(url)[rss]
        evicted = None
        if idle_seconds > 0:
            _wait(lambda: _scrape(url).get("sparsiflow_graphs{state=parked}", 0) >= graphs,
                  idle_seconds + 120, "every graph evicted")  # fmt: skip
            time.sleep(2.0)
            evicted = _scrape(url)[rss]
    return {
        "graphs": graphs,
        "rss_start_bytes": start,
        "rss_resident_bytes": resident,
        "rss_evicted_bytes": evicted,
        "per_resident_graph_bytes": (resident - start) / graphs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.bootstrap_servers:
            result = measure(args.bootstrap_servers, args.graphs, args.idle_seconds, Path(tmp))
        else:
            from sparsiflow.connector.kafka.devbroker import LocalKafka

            with LocalKafka(workdir=Path(tmp) / "kafka") as broker:
                result = measure(broker.bootstrap, args.graphs, args.idle_seconds, Path(tmp))
    return emit({"machine": machine_info(), **result}, args.out)


if __name__ == "__main__":
    sys.exit(main())
