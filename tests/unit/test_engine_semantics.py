"""Readable cases of the engine's update semantics and its bad-input rules (DESIGN.md §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparsiflow.connector.wire.deltas import delta_lists
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.updates import MAX_NODE_ID, Op, UpdateBatch

INS, DEL, REW = Op.INSERT, Op.DELETE, Op.REWEIGHT


def _triangle_plus_tail() -> Engine:
    """G: triangle 1-2-3 (weights 1) and a tail 3-4 (weight 2); H: path 1-2-3-4."""
    u, v, w = np.array([1, 2, 1, 3]), np.array([2, 3, 3, 4]), np.array([1.0, 1.0, 1.0, 2.0])
    return Engine.from_graph(
        u, v, w, config=EngineConfig(threshold=1.5), sparsifier=(u[[0, 1, 3]], v[[0, 1, 3]])
    )


@pytest.mark.parametrize(
    ("ops", "u", "v", "w", "message"),
    [
        ([INS], [5], [5], [1.0], "self-loop"),
        ([INS], [1], [2], [math.nan], "finite and > 0"),
        ([INS], [1], [2], [math.inf], "finite and > 0"),
        ([REW], [1], [2], [0.0], "finite and > 0"),
        ([INS], [1], [2], [-1.0], "finite and > 0"),
        ([INS], [-1], [2], [1.0], "negative"),
        ([INS], [1.5], [2], [1.0], "integers"),
        ([7], [1], [2], [1.0], "unknown op"),
        ([INS, INS], [1], [2, 3], [1.0, 1.0], "equal length"),
    ],
)
def test_bad_updates_are_refused_with_the_row(
    ops: list[int], u: list, v: list, w: list, message: str
) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidUpdateError, match=message):
        UpdateBatch.build(ops, u, v, w)


def test_op_names_parse_and_unknown_names_fail() -> None:
    assert Op.parse("reweight") is Op.REWEIGHT
    with pytest.raises(InvalidUpdateError, match="unknown op 'upsert'"):
        Op.parse("upsert")


def test_unknown_deletes_and_reweights_are_counted_not_errors() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(
        UpdateBatch.build([DEL, REW, DEL], [1, 2, 98], [4, 4, 99], [math.nan, 3.0, math.nan])
    )
    assert report.unknown == 3 and report.deleted == 0 and report.delta.size == 0
    assert engine.stats().edges_graph == 4


def test_insert_of_an_existing_edge_reweights_it_and_h_follows() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([INS], [2], [1], [5.0]))
    assert report.reweighted == 1 and report.inserted == 0
    assert delta_lists(report.delta)["reweighted"] == [(1, 2, 5.0)]
    u, v, w = engine.sparsifier_edges()
    assert (
        dict(zip(zip(u.tolist(), v.tolist(), strict=True), w.tolist(), strict=True))[(1, 2)] == 5.0
    )


def test_strengthened_edge_outside_h_is_judged_again() -> None:
    engine = _triangle_plus_tail()
    # 1-3 is outside H; its H path 1-2-3 has resistance 2: w=0.5 gives distortion 1 < 1.5
    assert engine.apply(UpdateBatch.build([REW], [1], [3], [0.5])).delta.size == 0
    report = engine.apply(UpdateBatch.build([REW], [1], [3], [4.0]))  # distortion 8 >= 1.5
    assert report.critical == 1 and delta_lists(report.delta)["added"] == [(1, 3, 4.0)]


def test_delete_then_reinsert_in_one_batch_is_a_reweight() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([DEL, INS], [3, 4], [4, 3], [math.nan, 7.0]))
    assert delta_lists(report.delta) == {
        "added": [],
        "removed": [],
        "reweighted": [(3, 4, 7.0)],
        "recovered": [],
        "pruned": [],
    }
    assert engine.stats().components == 1


def test_insert_then_delete_of_a_new_edge_is_nothing() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([INS, DEL], [2, 4], [4, 2], [1.0, math.nan]))
    assert report.inserted == 1 and report.deleted == 1 and report.delta.size == 0
    assert engine.stats().edges_graph == 4


def test_deleting_a_bridge_splits_components_and_h_follows() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([DEL], [3], [4]))
    assert delta_lists(report.delta)["removed"] == [(3, 4)] and report.repaired == 0
    assert engine.stats().components == 2  # node 4 is alone now, in G and in H


def test_deleting_an_h_edge_inside_a_cycle_repairs_through_g() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([DEL], [1], [2]))
    assert delta_lists(report.delta)["added"] == [(1, 3, 1.0)] and report.repaired == 1
    assert engine.stats().components == 1


def test_an_h_edge_lowered_to_half_or_less_is_repaired_and_keeps_its_new_weight() -> None:
    engine = _triangle_plus_tail()
    report = engine.apply(UpdateBatch.build([REW], [1], [2], [0.1]))
    assert delta_lists(report.delta)["reweighted"] == [(1, 2, 0.1)]
    assert delta_lists(report.delta)["added"] == [(1, 3, 1.0)] and report.repaired == 1
    u, v, w = engine.sparsifier_edges()
    h = dict(zip(zip(u.tolist(), v.tolist(), strict=True), w.tolist(), strict=True))
    assert h == {(1, 2): 0.1, (1, 3): 1.0, (2, 3): 1.0, (3, 4): 2.0}
    assert engine.stats().edges_graph == 4
    # G and H stay consistent: deleting the edge now needs no repair, H still holds 1-3
    report = engine.apply(UpdateBatch.build([DEL], [2], [1]))
    assert delta_lists(report.delta)["removed"] == [(1, 2)] and report.repaired == 0
    assert engine.stats().components == 1


@pytest.mark.parametrize(
    ("u", "v", "w", "config"),
    [
        (1, 2, 0.6, EngineConfig(threshold=1.5)),  # lowered, but by less than half
        (1, 2, 0.01, EngineConfig(threshold=1.5, repair_lowered=0)),  # repairs turned off
        (3, 4, 0.1, EngineConfig(threshold=1.5)),  # a bridge of G: no path around it
    ],
)
def test_a_lowered_h_edge_gets_no_repair_where_none_is_due(
    u: int, v: int, w: float, config: EngineConfig
) -> None:
    edges = _triangle_plus_tail()
    engine = Engine.from_graph(
        *edges.graph_edges(), config=config, sparsifier=edges.sparsifier_edges()[:2]
    )
    report = engine.apply(UpdateBatch.build([REW], [u], [v], [w]))
    assert delta_lists(report.delta)["reweighted"] == [(u, v, w)]
    assert delta_lists(report.delta)["added"] == [] and report.repaired == 0
    assert engine.stats().components == 1 and engine.stats().edges_graph == 4


def test_huge_and_sparse_node_ids_work() -> None:
    engine = Engine(EngineConfig(threshold=2.0))
    ids = np.array([0, MAX_NODE_ID, 2**40 + 3, 12345678901234], np.int64)
    engine.apply(UpdateBatch.inserts(ids[[0, 1, 2]], ids[[1, 2, 3]], np.ones(3)))
    report = engine.apply(UpdateBatch.inserts(ids[[3]], ids[[0]], np.array([1.0])))
    assert report.critical == 1  # the ring's path 3-2-1-0 has resistance 3: distortion 3 >= 2
    u, v, _ = engine.sparsifier_edges()
    assert (int(u.min()), int(v.max())) == (0, MAX_NODE_ID)
    with pytest.raises(InvalidUpdateError, match="below 2\\^63"):
        UpdateBatch.build([INS], np.array([2**63], np.uint64), [1], [1.0])


def test_a_stream_from_an_empty_graph_builds_h_from_nothing() -> None:
    engine = Engine()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 200, (2, 2000))
    keep = a != b
    engine.apply(UpdateBatch.inserts(a[keep], b[keep], rng.lognormal(size=int(keep.sum()))))
    stats = engine.stats()
    assert stats.edges_sparsifier < stats.edges_graph
    assert stats.edges_sparsifier >= stats.nodes - stats.components  # at least a spanning forest


@pytest.mark.parametrize(("threshold", "enters"), [(2.0, True), (20.0, False)])
def test_a_light_edge_enters_when_g_joins_its_ends_far_better_than_h(
    threshold: float, enters: bool
) -> None:
    """G joins 0 and 9 by 20 parallel two-hop paths (R_G ~ 0.1), H only by a 9-edge path.
    A new 0-9 edge of weight 0.01 has distortion w * R_H = 0.09, far below K, but its pair
    certifies kappa >= R_H / R_G: the default rule takes it when that exceeds K (bounding
    R_G by the edge and two other paths, 0.99, against R_H = 9)."""
    path = np.arange(9)
    hubs = np.arange(10, 30)
    u = np.concatenate([path, hubs, hubs])
    v = np.concatenate([path + 1, np.zeros(20, np.int64), np.full(20, 9)])
    h = np.concatenate([np.ones(9, bool), np.ones(20, bool), np.zeros(20, bool)])
    engine = Engine.from_graph(
        u, v, np.ones(u.size), config=EngineConfig(threshold=threshold), sparsifier=(u[h], v[h])
    )
    report = engine.apply(UpdateBatch.build([INS], [0], [9], [0.01]))
    assert report.critical == int(enters)
    assert (delta_lists(report.delta)["added"] == [(0, 9, 0.01)]) is enters


def test_a_given_sparsifier_must_have_the_graphs_components() -> None:
    """A triangle 0-1-2 plus the edge 3-4: H without the 3-4 edge leaves 3 and 4 apart."""
    u, v, w = np.array([0, 1, 0, 3]), np.array([1, 2, 2, 4]), np.ones(4)
    good = Engine.from_graph(u, v, w, sparsifier=(np.array([0, 1, 3]), np.array([1, 2, 4])))
    assert good.stats().components == 2 and good.stats().edges_sparsifier == 3
    with pytest.raises(InvalidUpdateError, match="components"):
        Engine.from_graph(u, v, w, sparsifier=(np.array([0, 1]), np.array([1, 2])))
    with pytest.raises(InvalidUpdateError, match="not in the graph"):
        Engine.from_graph(u, v, w, sparsifier=(np.array([0, 1]), np.array([3, 2])))
