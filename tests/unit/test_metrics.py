"""The metrics bundle: values, bounded labels, aggregation beyond the label cap, exposition."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from promql_sources import promtool_check_metrics

from sparsiflow.connector.observability.metrics import OTHER_GRAPH, REJECT_REASONS, WorkerMetrics
from sparsiflow.connector.wire.rejections import Reason
from sparsiflow.engine.results import BatchReport, Delta, GraphStats

NOW = 1_700_000_000.0


def report(
    nodes: int = 100, eg: int = 300, eh: int = 120, comps: int = 2, **kw: int
) -> BatchReport:
    return BatchReport(
        batch=kw.pop("batch", 1),
        delta=Delta(),
        stats=GraphStats(nodes=nodes, edges_graph=eg, edges_sparsifier=eh, components=comps),
        seconds={"walk": 0.03, "apply": 0.01},
        **kw,
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> WorkerMetrics:
    return WorkerMetrics(registry, max_graph_labels=2, clock=lambda: NOW)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def graph_labels(registry: CollectorRegistry, name: str) -> set[str]:
    return {s.labels["graph"] for m in registry.collect() for s in m.samples if s.name == name}


def test_batch_sets_graph_figures_counters_and_histograms(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    r = report(inserted=40, deleted=3, reweighted=2, unknown=1, critical=7, repaired=2,
               recovered=1, walker_steps=900)  # fmt: skip
    metrics.record_batch("g1", r, updates=46, event_to_delta_seconds=0.2, publish_seconds=0.004)
    metrics.record_batch("g1", r, updates=46, event_to_delta_seconds=0.3, publish_seconds=0.004)

    assert value(registry, "sparsiflow_graph_nodes", graph="g1") == 100
    assert value(registry, "sparsiflow_graph_edges", graph="g1") == 300
    assert value(registry, "sparsiflow_sparsifier_edges", graph="g1") == 120
    assert value(registry, "sparsiflow_graph_components", graph="g1") == 2
    assert value(registry, "sparsiflow_sparsifier_density", graph="g1") == pytest.approx(1.2)
    # beyond a spanning forest of 100 - 2 edges: 22 edges over 100 nodes
    assert value(registry, "sparsiflow_sparsifier_off_tree_density", graph="g1") == (
        pytest.approx(0.22)
    )
    assert value(registry, "sparsiflow_updates_applied_total", graph="g1", op="insert") == 80
    assert value(registry, "sparsiflow_updates_applied_total", graph="g1", op="delete") == 6
    assert value(registry, "sparsiflow_updates_applied_total", graph="g1", op="reweight") == 4
    assert value(registry, "sparsiflow_updates_unknown_edge_total", graph="g1") == 2
    added = "sparsiflow_sparsifier_edges_added_total"
    assert value(registry, added, graph="g1", cause="critical") == 14
    assert value(registry, added, graph="g1", cause="repair") == 4
    assert value(registry, added, graph="g1", cause="recovery") == 2
    assert value(registry, "sparsiflow_walker_steps_total", graph="g1") == 1800
    for name in ("batches", "deltas_published", "metrics_events_published"):
        assert value(registry, f"sparsiflow_{name}_total", graph="g1") == 2
    assert value(registry, "sparsiflow_batch_size_updates_sum") == 92
    assert value(registry, "sparsiflow_batch_size_updates_bucket", le="64.0") == 2
    assert value(registry, "sparsiflow_engine_batch_seconds_sum") == pytest.approx(0.08)
    assert value(registry, "sparsiflow_event_to_delta_seconds_bucket", le="0.25") == 1
    assert value(registry, "sparsiflow_event_to_delta_seconds_count") == 2
    assert value(registry, "sparsiflow_publish_seconds_count") == 2


def test_graphs_beyond_the_cap_aggregate_under_other(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    for i in range(6):
        metrics.record_batch(
            f"g{i}", report(nodes=10, eg=20, eh=12, comps=1, inserted=5),
            updates=5, event_to_delta_seconds=0.1, publish_seconds=0.01,
        )  # fmt: skip
    assert graph_labels(registry, "sparsiflow_graph_nodes") == {"g0", "g1", OTHER_GRAPH}
    assert graph_labels(registry, "sparsiflow_batches_total") == {"g0", "g1", OTHER_GRAPH}
    assert value(registry, "sparsiflow_batches_total", graph=OTHER_GRAPH) == 4
    assert value(registry, "sparsiflow_graph_nodes", graph=OTHER_GRAPH) == 40
    assert value(registry, "sparsiflow_graph_components", graph=OTHER_GRAPH) == 4
    # density of the union: 48 edges of H over 40 nodes; off-tree (48 - 36) / 40
    assert value(registry, "sparsiflow_sparsifier_density", graph=OTHER_GRAPH) == 1.2
    assert value(registry, "sparsiflow_sparsifier_off_tree_density", graph=OTHER_GRAPH) == 0.3
    # a later batch of an aggregated graph replaces that graph's share, not adds to it
    metrics.record_batch("g5", report(nodes=50, eg=90, eh=60, comps=1), updates=1,
                         event_to_delta_seconds=0.1, publish_seconds=0.01)  # fmt: skip
    assert value(registry, "sparsiflow_graph_nodes", graph=OTHER_GRAPH) == 80


def test_a_graph_named_like_the_aggregate_never_gets_a_label_of_its_own(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    metrics.record_kappa(OTHER_GRAPH, 3.0)
    metrics.record_kappa("g1", 4.0)
    assert graph_labels(registry, "sparsiflow_kappa") == {OTHER_GRAPH, "g1"}


def test_kappa_keeps_worst_estimate_and_oldest_time_under_other(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    metrics.record_kappa("a", 5.0)
    metrics.record_kappa("b", 6.0, at=NOW - 10)
    assert value(registry, "sparsiflow_kappa", graph="a") == 5.0
    assert value(registry, "sparsiflow_kappa_timestamp_seconds", graph="a") == NOW
    metrics.record_kappa("c", 40.0, at=NOW - 5)
    metrics.record_kappa("d", 20.0, at=NOW - 60, before=90.0)
    assert value(registry, "sparsiflow_kappa", graph=OTHER_GRAPH) == 40.0
    assert value(registry, "sparsiflow_kappa_timestamp_seconds", graph=OTHER_GRAPH) == NOW - 60
    assert value(registry, "sparsiflow_kappa_before", graph=OTHER_GRAPH) == 90.0
    metrics.forget_graph("c")
    assert value(registry, "sparsiflow_kappa", graph=OTHER_GRAPH) == 20.0
    metrics.forget_graph("d")
    assert value(registry, "sparsiflow_kappa", graph=OTHER_GRAPH) is None
    assert value(registry, "sparsiflow_kappa_before", graph=OTHER_GRAPH) is None
    metrics.forget_graph("a")
    assert graph_labels(registry, "sparsiflow_kappa") == {"b"}
    assert graph_labels(registry, "sparsiflow_kappa_before") == {"b"}


def test_kappa_before_is_what_the_check_found_and_defaults_to_its_kappa(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    metrics.record_kappa("g1", 95.0, before=150.0)
    metrics.record_kappa("g2", 40.0)
    assert value(registry, "sparsiflow_kappa", graph="g1") == 95.0
    assert value(registry, "sparsiflow_kappa_before", graph="g1") == 150.0
    assert value(registry, "sparsiflow_kappa_before", graph="g2") == 40.0


def test_forget_graph_drops_gauges_but_keeps_counters(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    metrics.record_batch("g1", report(), updates=1, event_to_delta_seconds=0.1,
                         publish_seconds=0.01)  # fmt: skip
    metrics.forget_graph("g1")
    metrics.forget_graph("never-seen")
    assert value(registry, "sparsiflow_graph_edges", graph="g1") is None
    assert value(registry, "sparsiflow_batches_total", graph="g1") == 1
    metrics.record_batch("x", report(), updates=1, event_to_delta_seconds=0.1,
                         publish_seconds=0.01)  # fmt: skip
    assert value(registry, "sparsiflow_graph_edges", graph="x") == 300, "a slot was still free"


def test_rejections_are_counted_by_a_bounded_reason(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    assert set(REJECT_REASONS) == {r.value for r in Reason} | {"other"}
    for reason in REJECT_REASONS:
        assert value(registry, "sparsiflow_events_rejected_total", reason=reason) == 0
    metrics.record_rejected(Reason.SELF_LOOP)
    metrics.record_rejected("bad_weight", count=3)
    metrics.record_rejected("something-new")
    metrics.record_consumed(10)
    assert value(registry, "sparsiflow_events_rejected_total", reason="self_loop") == 1
    assert value(registry, "sparsiflow_events_rejected_total", reason="bad_weight") == 3
    assert value(registry, "sparsiflow_events_rejected_total", reason="other") == 1
    assert value(registry, "sparsiflow_events_rejected_total", reason="something-new") is None
    assert value(registry, "sparsiflow_events_consumed_total") == 10


def test_consumer_lag_follows_the_current_assignment(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    metrics.set_consumer_lag({("in", 0): 5, ("in", 1): 7})
    metrics.set_consumer_lag({("in", 1): 2, ("in", 2): 0})
    lag = "sparsiflow_consumer_lag_records"
    assert value(registry, lag, topic="in", partition="0") is None
    assert value(registry, lag, topic="in", partition="1") == 2
    assert value(registry, lag, topic="in", partition="2") == 0


def test_state_gauges(metrics: WorkerMetrics, registry: CollectorRegistry) -> None:
    assert value(registry, "sparsiflow_worker_start_time_seconds") == NOW
    assert value(registry, "sparsiflow_checkpoint_timestamp_seconds") == 0
    metrics.record_checkpoint(seconds=0.5, size_bytes=4096)
    assert value(registry, "sparsiflow_checkpoint_timestamp_seconds") == NOW
    assert value(registry, "sparsiflow_checkpoint_size_bytes") == 4096
    assert value(registry, "sparsiflow_checkpoint_duration_seconds_sum") == 0.5
    metrics.set_kappa_bound(None)
    assert value(registry, "sparsiflow_kappa_bound") == 0
    metrics.set_kappa_bound(50.0)
    assert value(registry, "sparsiflow_kappa_bound") == 50
    metrics.set_worker_up(True)
    assert value(registry, "sparsiflow_worker_up") == 1
    metrics.set_worker_up(False)
    assert value(registry, "sparsiflow_worker_up") == 0
    metrics.set_engine_info(backend="numba", mode="default")
    info = [s for m in registry.collect() for s in m.samples if s.name == "sparsiflow_engine_info"]
    assert len(info) == 1
    assert info[0].labels["backend"] == "numba"
    assert info[0].labels["mode"] == "default"
    assert info[0].labels["version"]


def test_in_flight_is_released_on_error(
    metrics: WorkerMetrics, registry: CollectorRegistry
) -> None:
    with metrics.track_in_flight():
        assert value(registry, "sparsiflow_batches_in_flight") == 1
    with pytest.raises(RuntimeError), metrics.track_in_flight():
        raise RuntimeError("engine failed")
    assert value(registry, "sparsiflow_batches_in_flight") == 0


def test_bundles_use_only_their_own_registry() -> None:
    one, two = CollectorRegistry(), CollectorRegistry()
    WorkerMetrics(one)
    WorkerMetrics(two)  # the same names again: no clash, so nothing is global
    assert REGISTRY.get_sample_value("sparsiflow_worker_start_time_seconds") is None
    assert one.get_sample_value("process_cpu_seconds_total") is not None


def test_negative_label_cap_is_refused(registry: CollectorRegistry) -> None:
    with pytest.raises(ValueError, match="max_graph_labels"):
        WorkerMetrics(registry, max_graph_labels=-1)


def test_exposition_passes_promtool(metrics: WorkerMetrics, registry: CollectorRegistry) -> None:
    metrics.record_batch("g1", report(inserted=3), updates=3, event_to_delta_seconds=0.1,
                         publish_seconds=0.01)  # fmt: skip
    metrics.record_kappa("g1", 9.0)
    metrics.set_engine_info(backend="numpy", mode="dygrass")
    text = generate_latest(registry)
    done = promtool_check_metrics(text)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert b"sparsiflow_kappa{" in text
