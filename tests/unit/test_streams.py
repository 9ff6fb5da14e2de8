"""Benchmark update streams and JSONL update files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.edges import EdgeList, components, locate
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.workloads.families import delaunay, grid_circuit
from sparsiflow.workloads.streams import read_updates, spanning_forest, update_stream, write_updates


def test_spanning_forest_spans_every_component() -> None:
    g = EdgeList.normalize([0, 1, 0, 3, 4, 3], [1, 2, 2, 4, 5, 5], n=7)
    mask = spanning_forest(g, seed=3)
    assert mask.sum() == 7 - 3
    assert components(g.subset(mask))[0] == components(g)[0] == 3


def test_update_stream_follows_the_paper_protocol() -> None:
    full = delaunay(2000, weights="lognormal", seed=4)
    s = update_stream(full, insert_frac=0.25, delete_frac=0.01, seed=9)
    inserts, deletes = s.ops == Op.INSERT, s.ops == Op.DELETE
    assert (inserts.sum(), deletes.sum()) == (500, 20)
    assert np.all(s.ops[:500] == Op.INSERT)  # insertions first, then deletions
    assert components(s.base)[0] == 1
    assert s.base.m + 500 == full.m
    added = EdgeList.normalize(s.u[inserts], s.v[inserts], s.w[inserts], n=full.n)
    assert added.m == 500 and np.all(locate(s.base, added) < 0)  # new to the base graph
    rows = locate(full, added)
    assert np.all(rows >= 0) and np.array_equal(full.w[rows], added.w)  # the full graph's
    merged = EdgeList.normalize(
        np.concatenate([s.base.u, added.u]), np.concatenate([s.base.v, added.v]), n=full.n
    )
    assert np.array_equal(merged.keys(), full.keys())
    gone = np.ones(full.m, dtype=np.bool_)
    gone[locate(full, EdgeList.normalize(s.u[deletes], s.v[deletes], n=full.n))] = False
    assert gone.sum() == full.m - 20 and components(full.subset(gone))[0] == 1
    assert np.all(np.isnan(s.w[deletes]))
    UpdateBatch.build(s.ops, s.u, s.v, s.w)  # a valid batch
    assert len(s.batch()) == 520


def test_update_stream_is_deterministic_and_insertion_order_is_random() -> None:
    full = grid_circuit(900, seed=1)
    a, b = update_stream(full, 0.2, 0.01, seed=1), update_stream(full, 0.2, 0.01, seed=1)
    for x, y in ((a.ops, b.ops), (a.u, b.u), (a.v, b.v), (a.w, b.w)):
        assert np.array_equal(x, y, equal_nan=True)
    keys = a.u[a.ops == Op.INSERT] * full.n + a.v[a.ops == Op.INSERT]
    assert not np.all(np.diff(keys) > 0)


def test_update_stream_rejects_impossible_requests() -> None:
    tree = EdgeList.normalize(np.arange(9), np.arange(1, 10))
    with pytest.raises(ValueError, match="outside a spanning forest"):
        update_stream(tree, insert_frac=0.5)
    with pytest.raises(ValueError, match=">= 0"):
        update_stream(tree, insert_frac=-0.1)


ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(list(Op)),
        st.integers(0, 2**63 - 1),
        st.integers(0, 2**63 - 1),
        st.floats(1e-300, 1e300),
    ).filter(lambda r: r[1] != r[2]),
    max_size=30,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops_strategy, st.text(min_size=1, max_size=8))
def test_jsonl_round_trip(tmp_path: Path, rows: list[tuple[Op, int, int, float]], gid: str) -> None:
    ops = [int(r[0]) for r in rows]
    w = [np.nan if r[0] == Op.DELETE else r[3] for r in rows]
    batch = UpdateBatch.build(ops, [r[1] for r in rows], [r[2] for r in rows], w)
    path = tmp_path / "u.jsonl"
    write_updates(path, batch, gid)
    back = read_updates(path, graph=gid)
    assert np.array_equal(back.ops, batch.ops) and np.array_equal(back.u, batch.u)
    assert np.array_equal(back.v, batch.v) and np.array_equal(back.w, batch.w, equal_nan=True)
    for line, op in zip(path.read_text().splitlines(), ops, strict=True):
        event = json.loads(line)
        assert event["graph"] == gid and ("w" in event) == (op != Op.DELETE)


def test_read_accepts_batch_events_and_filters_graphs(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(
        '{"graph": "a", "op": "insert", "u": 1, "v": 2, "w": 2}\n'
        "\n"
        '{"graph": "b", "op": "delete", "u": 1, "v": 2}\n'
        '{"graph": "a", "ops": ["reweight", "delete"], "u": [3, 4], "v": [5, 6],'
        ' "w": [0.5, null]}\n'
        '{"graph": "a", "ops": ["delete"], "u": [7], "v": [8]}\n'
    )
    a = read_updates(path, graph="a")
    assert a.ops.tolist() == [Op.INSERT, Op.REWEIGHT, Op.DELETE, Op.DELETE]
    assert a.u.tolist() == [1, 3, 4, 7] and a.w[:2].tolist() == [2.0, 0.5]
    assert len(read_updates(path)) == 5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"graph": "a", "op": "upsert", "u": 1, "v": 2, "w": 1}', "unknown op"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 1, "w": 1}', "self-loop"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 2, "w": -1}', "finite and > 0"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 2}', "finite and > 0"),
        ('{"graph": "a", "op": "insert", "u": "1", "v": 2, "w": 1}', "not a JSON integer"),
        ('{"graph": "a", "op": "insert", "u": true, "v": 2, "w": 1}', "not a JSON integer"),
        ('{"graph": "a", "op": "delete", "u": 1.0, "v": 2}', "not a JSON integer"),
        ('{"graph": "a", "op": "insert", "u": -1, "v": 2, "w": 1}', "negative"),
        ('{"graph": "a", "ops": ["insert"], "u": [1], "v": [2], "w": [1, 2]}', "equal"),
        ('{"graph": "a", "op": "insert", "u": 1', "bad update event"),
        ("[1, 2]", "bad update event"),
    ],
)
def test_bad_events_name_their_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"graph": "a", "op": "insert", "u": 1, "v": 2, "w": 1}\n' + line + "\n")
    with pytest.raises(InvalidUpdateError, match=message) as info:
        read_updates(path)
    assert ":2:" in str(info.value)
