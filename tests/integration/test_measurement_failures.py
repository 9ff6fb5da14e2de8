"""A failing optional measurement never stops the stream; a failing engine does, and says why.

Faults are injected into a real ``sparsiflow worker`` subprocess on the real broker through a
``sitecustomize`` module on its ``PYTHONPATH`` (run by the interpreter at start), so the worker
runs its shipped code and only the named function is replaced."""

from __future__ import annotations

import re
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from sparsiflow.connector.kafka.topic_reader import read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, first_error, worker_env

GRAPH = "g1"
EDGES = 30  # a path: H = G, the shape where the estimator once failed
INJECTED = "injected estimator failure"


def _fault(tmp_path: Path, target: str, message: str) -> str:
    """A folder holding a ``sitecustomize`` that makes ``target`` (``module:Class.method``)
    raise ``RuntimeError(message)``; returns the folder for ``PYTHONPATH``."""
    module, _, attribute = target.partition(":")
    owner, _, method = attribute.partition(".")
    folder = tmp_path / f"fault-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import {module} as _target\n\n\n"
        f"def _fail(*args, **kwargs):\n    raise RuntimeError({message!r})\n\n\n"
        f"setattr(_target.{owner}, {method!r}, _fail)\n"
    )
    return str(folder)


def _worker(
    bootstrap: str, tmp_path: Path, fault: str, **extra: str
) -> tuple[WorkerProcess, dict[str, str]]:
    stem = uuid.uuid4().hex[:10]
    topics = {kind: f"t-measure-{stem}-{kind}" for kind in ("input", "deltas", "metrics", "dlq")}
    env = worker_env(bootstrap, topics, f"g-{stem}", state_dir=str(tmp_path / "state"), **extra)
    env["PYTHONPATH"] = fault
    return WorkerProcess(env, tmp_path / f"worker-{stem}.log"), topics


def _produce_path(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for u in range(1, EDGES + 1):
        update = {"graph": GRAPH, "op": "insert", "u": u, "v": u + 1, "w": 1.0}
        producer.produce(topic, orjson.dumps(update), GRAPH.encode())
    assert producer.flush(30) == 0


def _events(bootstrap: str, topic: str) -> list[dict[str, object]]:
    try:
        return [
            orjson.loads(m.value()) for m in read_topic({"bootstrap.servers": bootstrap}, topic)
        ]
    except RuntimeError:  # not created yet
        return []


def _scrape_counter(worker: WorkerProcess) -> float:
    """``sparsiflow_measurement_failures_total{measurement="kappa",reason="error"}`` now."""
    port = re.search(r"metrics on port (\d+)", worker.tail(100_000))
    assert port is not None, worker.diagnosis()
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=10) as page:
        text = page.read().decode()
    series = 'sparsiflow_measurement_failures_total{measurement="kappa",reason="error"}'
    found = [line.rpartition(" ")[2] for line in text.splitlines() if line.startswith(series)]
    return float(found[0]) if found else 0.0


def test_a_failing_kappa_estimate_leaves_the_stream_running(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    fault = _fault(tmp_path, "sparsiflow.engine.quality.estimator:KappaEstimator.update", INJECTED)
    worker, topics = _worker(
        kafka_bootstrap, tmp_path, fault, engine_kappa_change="1e-9", batch_max_size="5"
    )
    with worker:
        _produce_path(kafka_bootstrap, topics["input"])
        worker.wait_until(
            lambda: (
                sum(e["inserted"] for e in _events(kafka_bootstrap, topics["metrics"])) == EDGES
            ),  # type: ignore[misc]
            120,
            "every insert to be published",
        )
        assert worker.alive()
        count = _scrape_counter(worker)
        assert worker.stop() == 0, worker.diagnosis()
    deltas = _events(kafka_bootstrap, topics["deltas"])
    metrics = _events(kafka_bootstrap, topics["metrics"])
    assert sorted(int(d["batch"]) for d in deltas) == list(range(len(deltas)))  # type: ignore[call-overload]
    assert sum(len(d["added"]) for d in deltas) == EDGES  # type: ignore[arg-type]
    assert len(metrics) == len(deltas) >= EDGES // 5
    reason = f"error: RuntimeError: {INJECTED}"
    entered = [m for m in metrics if m.get("kappa_batch") is not None]  # checks that entered
    assert len(entered) >= len(metrics) // 2
    assert {(m["kappa"], m["kappa_method"], m["kappa_unavailable"]) for m in entered} == {
        (None, None, reason)
    }
    assert all(m["kappa_unavailable"] is None for m in metrics if m.get("kappa_batch") is None)
    assert count == len(entered)
    log = worker.log.read_text()
    assert log.count(f"graph '{GRAPH}': kappa not estimated ({reason})") == 1, log[-4000:]


@pytest.mark.parametrize(
    ("target", "first"),
    [
        (
            "sparsiflow.engine.engine:Engine.apply",
            "Traceback",
        ),  # at start: the kernels' warm-up batch
        ("sparsiflow.connector.stream.processor:Processor._publish", "[ERROR]"),  # 1st batch
    ],
)
def test_a_failing_engine_stops_the_worker_and_the_message_says_why(
    kafka_bootstrap: str, tmp_path: Path, target: str, first: str
) -> None:
    """An engine failure would make H wrong: the worker stops without publishing the batch, and
    the diagnosis a failing test shows names the first failure and its exception."""
    fault = _fault(tmp_path, target, "injected engine failure")
    worker, topics = _worker(kafka_bootstrap, tmp_path, fault, batch_max_size="5")
    with worker:
        _produce_path(kafka_bootstrap, topics["input"])
        worker.wait_until(lambda: not worker.alive(), 120, "the worker to stop")
    assert worker.stop() != 0
    diagnosis = first_error(worker.log.read_text())
    assert first in diagnosis.splitlines()[0], diagnosis
    assert "RuntimeError: injected engine failure" in diagnosis, diagnosis
    assert "injected engine failure" in diagnosis.splitlines()[-1], diagnosis  # the exception
    assert _events(kafka_bootstrap, topics["deltas"]) == []
