"""The current-H records and the client's state without a broker: the records a delta turns
into, keys and values refused by the decoder, and the rules for following deltas after a
position loaded from the table."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from sparsiflow.connector.downstream.client import SparsifierState
from sparsiflow.connector.wire.deltas import DeltaLogError, SourceRange, decode_delta, encode_delta
from sparsiflow.connector.wire.edges import (
    EdgeRecord,
    Position,
    decode_edge_record,
    edge_records,
    is_graph_key,
)
from sparsiflow.engine.results import Delta


def _delta() -> Delta:
    return Delta(
        np.array([1, 9]), np.array([2, 4]), np.array([1.5, 2.0]),  # added (9, 4): written 4/9
        np.array([3]), np.array([5]),  # removed
        np.array([6]), np.array([7]), np.array([0.25]),  # reweighted
    )  # fmt: skip


def test_a_delta_becomes_tombstones_weights_then_the_position() -> None:
    records = edge_records("g1", 4, _delta(), 2, 1041)
    assert [key for key, _ in records] == [b"g1/3/5", b"g1/6/7", b"g1/1/2", b"g1/4/9", b"g1"]
    decoded = [decode_edge_record(key, value) for key, value in records]
    assert decoded == [
        EdgeRecord("g1", 3, 5, None, None),
        EdgeRecord("g1", 6, 7, 0.25, 4),
        EdgeRecord("g1", 1, 2, 1.5, 4),
        EdgeRecord("g1", 4, 9, 2.0, 4),
        Position("g1", 4, 2, 1041),
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"g1/5/3", b'{"w": 1, "batch": 0}'),  # U > V
        (b"g1/3/3", b'{"w": 1, "batch": 0}'),
        (b"g1/-3/5", b'{"w": 1, "batch": 0}'),
        (b"g1/3/+5", b'{"w": 1, "batch": 0}'),
        (b"g1/3/5/7", b'{"w": 1, "batch": 0}'),
        (b"g1/3/99999999999999999999", b'{"w": 1, "batch": 0}'),
        (b"bad graph/3/5", b'{"w": 1, "batch": 0}'),
        (b"g1/3/5", b'{"w": 1e999, "batch": 0}'),
        (b"g1/3/5", b'{"w": 1, "batch": -1}'),
        (b"g1/3/5", b'{"w": 1, "batch": 0, "x": 1}'),
        (b"g1/3/5", b'{"w": true, "batch": 0}'),
        (b"g1/3/5", b"[1, 0]"),
        (b"g1/3/5", b"not json"),
        (b"g1", None),  # a position is never a tombstone
        (b"g1", b'{"batch": 1, "delta_partition": 0}'),
        (None, b'{"w": 1, "batch": 0}'),
    ],
)
def test_the_decoder_refuses_broken_records(key: bytes | None, value: bytes | None) -> None:
    with pytest.raises(DeltaLogError, match="unreadable current-H record"):
        decode_edge_record(key, value)


def test_graph_keys_do_not_match_other_graphs_with_the_same_prefix() -> None:
    assert is_graph_key(b"g1", "g1") and is_graph_key(b"g1/3/5", "g1")
    assert not is_graph_key(b"g10/3/5", "g1") and not is_graph_key(b"g10", "g1")
    assert not is_graph_key(None, "g1")


def _event(batch: int, added: tuple[int, int, float]) -> bytes:
    delta = Delta(np.array([added[0]]), np.array([added[1]]), np.array([added[2]]))
    return encode_delta("g1", batch, SourceRange(0, batch, batch), delta, 1.0)


def test_following_after_a_loaded_position() -> None:
    """Batches up to the position were seen through the table: a repeat of one is skipped, the
    next one applies, a later one is a gap."""
    state = SparsifierState("g1")
    for key, value in edge_records("g1", 3, Delta(np.array([1]), np.array([2]), np.array([1.0])),
                                   0, 17):  # fmt: skip
        state.add_record(decode_edge_record(key, value))
    assert state.batches == 4 and state.position == Position("g1", 3, 0, 17)
    assert state.sparsifier.edges == {(1, 2): 1.0}
    assert not state.add_delta(decode_delta(_event(3, (1, 2, 1.0))))  # seen via the table
    assert state.add_delta(decode_delta(_event(4, (2, 3, 2.0))))
    assert state.sparsifier.edges == {(1, 2): 1.0, (2, 3): 2.0}
    with pytest.raises(DeltaLogError, match="repeated with changes"):
        state.add_delta(decode_delta(_event(4, (2, 3, 9.0))))
    with pytest.raises(DeltaLogError, match="1 delta\\(s\\) missing"):
        state.add_delta(decode_delta(_event(6, (5, 6, 1.0))))
    matrix, ids = state.matrix()
    assert ids.tolist() == [1, 2, 3]
    assert matrix.toarray().tolist() == [[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]]
    assert orjson.loads(edge_records("g1", 0, Delta(), 0, 0)[0][1] or b"")["batch"] == 0
