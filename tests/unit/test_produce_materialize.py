"""Producer encoding and the reference materializer's rules, without a broker."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from sparsiflow.connector.downstream.materialize import EdgeMap, Materialized
from sparsiflow.connector.wire.deltas import DeltaEvent, DeltaLogError, decode_delta
from sparsiflow.connector.wire.edge_updates import Decoded, assemble, decode, encode_records
from sparsiflow.engine.graph.updates import Op, UpdateBatch

UPDATES = UpdateBatch.build(
    [Op.INSERT, Op.INSERT, Op.DELETE, Op.REWEIGHT, Op.INSERT],
    [0, 1, 0, 1, 2**62],
    [1, 2, 1, 2, 5],
    [1.0, 2.0, np.nan, 3.0, 0.5],
)


@pytest.mark.parametrize(("form", "per_record", "records"), [("single", 1, 5), ("batch", 2, 3)])
def test_encoded_records_decode_back_to_the_updates(
    form: str, per_record: int, records: int
) -> None:
    out = list(encode_records("g", UPDATES, form, per_record))  # type: ignore[arg-type]
    assert len(out) == records and sum(n for _, n in out) == len(UPDATES)
    decoded = [decode(value) for value, _ in out]
    assert all(isinstance(d, Decoded) and d.graph == "g" for d in decoded)
    back = assemble([d for d in decoded if isinstance(d, Decoded)])
    for name in ("ops", "u", "v", "w"):
        np.testing.assert_array_equal(getattr(back, name), getattr(UPDATES, name))


def test_edge_map_follows_g_semantics() -> None:
    g = EdgeMap()
    g.apply_updates(UPDATES)
    assert g.edges == {(1, 2): 3.0, (5, 2**62): 0.5}
    g.apply_updates(UpdateBatch.build([Op.REWEIGHT, Op.DELETE], [7, 8], [9, 9], [1.0, np.nan]))
    assert len(g) == 2  # unknown edges: ignored
    u, v, w = g.columns()
    assert u.tolist() == [1, 5] and v.tolist() == [2, 2**62] and w.tolist() == [3.0, 0.5]


def _delta(
    batch: int, added: list[list[Any]], removed: list[list[int]] | None = None, at: float = 1.0
) -> DeltaEvent:
    event = {
        "graph": "g",
        "batch": batch,
        "source": {"partition": 0, "first_offset": batch, "last_offset": batch},
        "added": added,
        "removed": removed or [],
        "reweighted": [],
        "produced_at": at + batch,
    }
    return decode_delta(orjson.dumps(event))


def test_materialized_applies_in_order_skips_identical_repeats_and_detects_gaps() -> None:
    m = Materialized("g")
    m.add_delta(_delta(0, [[0, 1, 1.0], [1, 2, 1.0]]))
    m.add_delta(_delta(1, [[2, 3, 2.0]], removed=[[0, 1]]))
    m.add_delta(_delta(1, [[2, 3, 2.0]], removed=[[0, 1]], at=99.0))  # differs in time only
    assert m.batches == 2 and m.duplicates == 1
    assert m.sparsifier.edges == {(1, 2): 1.0, (2, 3): 2.0}
    with pytest.raises(DeltaLogError, match="repeated with changes"):
        m.add_delta(_delta(1, [[5, 6, 1.0]]))
    with pytest.raises(DeltaLogError, match="1 delta"):
        m.add_delta(_delta(3, []))
    assert m.node_count() == 4
