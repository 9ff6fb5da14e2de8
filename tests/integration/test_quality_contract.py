"""The quality contract on the user's path: ``sparsiflow worker`` with its default settings, fed
a mesh from empty (the graph as batch records, then single-record insertions and deletions),
publishes kappa estimates, exports the target as the alert's bound, settles the quiet graph, and
ends with an exact kappa under the target and no worse than ``sparsiflow sparsify`` at the same
off-tree density. ``SPARSIFLOW_TEST_MESH_NODES`` sets the mesh size (33,000: on a 3,000-node
mesh the default target is loose, no check acts, and H sits within 1 % of a fresh static
sparsifier at its density, either side)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import free_port, http_get
from reliability_support import send_keyed

from sparsiflow import schemas
from sparsiflow.connector.downstream.materialize import materialize
from sparsiflow.connector.kafka.topic_reader import MissingTopicError, read_topic
from sparsiflow.connector.kafka.worker_process import WorkerProcess, worker_env
from sparsiflow.connector.observability.kappa import dense_pair
from sparsiflow.connector.wire.edge_updates import encode_records
from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
from sparsiflow.engine.config import DEFAULT_TARGET_KAPPA
from sparsiflow.engine.graph.updates import UpdateBatch
from sparsiflow.engine.quality.exact import measure
from sparsiflow.workloads.families import fem_mesh
from sparsiflow.workloads.streams import update_stream

GRAPH = "mesh"
SPARSIFLOW = str(Path(sys.executable).parent / "sparsiflow")


def _read(bootstrap: str, topic: str) -> list[dict[str, object]]:
    try:
        return [
            orjson.loads(m.value()) for m in read_topic({"bootstrap.servers": bootstrap}, topic)
        ]
    except MissingTopicError:
        return []


def _scrape(port: int) -> dict[str, float]:
    body = http_get(f"http://127.0.0.1:{port}/metrics").decode()
    return {
        s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_a_default_worker_holds_the_kappa_target_on_a_mesh_from_empty(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    create_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = {kind: unique_name(kind) for kind in ("input", "deltas", "metrics", "dlq", "edges")}
    create_topic(topics["input"])
    port = free_port()
    env = worker_env(
        kafka_bootstrap, topics, unique_name("group"),
        metrics_port=str(port), state_dir=str(tmp_path / "state"),
    )  # fmt: skip
    nodes = int(os.environ.get("SPARSIFLOW_TEST_MESH_NODES", "33000"))
    stream = update_stream(fem_mesh(nodes, seed=3), 0.25, 0.01, seed=3)
    base = stream.base
    bulk = [v for v, _ in encode_records(GRAPH, UpdateBatch.inserts(base.u, base.v, base.w))]
    singles = [v for v, _ in encode_records(GRAPH, stream.batch(), "single")]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        last = send_keyed(kafka_bootstrap, topics["input"], GRAPH, bulk + singles)

        def checked() -> bool:
            """a kappa check of the graph as of its last record has been published"""
            deltas = _read(kafka_bootstrap, topics["deltas"])
            final = [d["batch"] for d in deltas if d["source"]["last_offset"] >= last]  # type: ignore[index]
            read = [m["kappa_batch"] for m in _read(kafka_bootstrap, topics["metrics"])]
            return bool(final) and max((b for b in read if b is not None), default=-1) >= min(final)  # type: ignore[type-var]

        worker.wait_until(checked, 600, "a kappa check of the final graph")
        scraped = _scrape(port)
        assert worker.stop() == 0, worker.diagnosis()
    assert scraped["sparsiflow_kappa_bound"] == DEFAULT_TARGET_KAPPA
    assert 1 <= scraped[f"sparsiflow_kappa{{{GRAPH}}}"] <= DEFAULT_TARGET_KAPPA
    assert scraped[f"sparsiflow_kappa_before{{{GRAPH}}}"] >= 1
    events = _read(kafka_bootstrap, topics["metrics"])
    estimates = [e for e in events if e["kappa"] is not None]
    assert len(estimates) >= 2
    metrics_schema = Draft202012Validator(schemas.load_schema("quality-metrics"))
    delta_schema = Draft202012Validator(schemas.load_schema("sparsifier-delta"))
    for event in events:
        assert metrics_schema.is_valid(event), event
    for event in estimates:
        assert event["kappa_method"] == "lanczos" and event["kappa_seconds"] >= 0  # type: ignore[operator]
        assert event["kappa_batch"] <= event["batch"]  # type: ignore[operator]
        assert event["kappa_before"] > 0  # type: ignore[operator]  # what the check found
    for delta in _read(kafka_bootstrap, topics["deltas"]):
        assert delta_schema.is_valid(delta), delta

    conf = {"bootstrap.servers": kafka_bootstrap}
    state = materialize(conf, topics["deltas"], GRAPH, input_topic=topics["input"])
    assert state.input is not None
    g, h = dense_pair(state.input.columns(), state.sparsifier.columns())
    held = measure(g, h)
    assert held.kappa <= 1.1 * DEFAULT_TARGET_KAPPA
    write_graph(tmp_path / "g.mtx", g)
    density = f"{held.stats.off_tree_density:.6f}"
    subprocess.run(
        [SPARSIFLOW, "sparsify", str(tmp_path / "g.mtx"), "-o", str(tmp_path / "s.mtx"),
         "--off-tree-density", density],
        check=True, capture_output=True,
    )  # fmt: skip
    static = measure(g, read_graph(tmp_path / "s.mtx"))
    assert abs(static.stats.off_tree_density - held.stats.off_tree_density) < 1e-3
    print(f"mesh of {g.n} nodes: kappa {held.kappa:.2f} at off-tree density {density}; sparsify "
          f"at that density: {static.kappa:.2f}")  # fmt: skip
    assert held.kappa <= static.kappa, (held.kappa, static.kappa, density)
