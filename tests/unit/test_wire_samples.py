"""Every golden sample of the edge-update, sparsifier-delta, sparsifier-edge and quality-metrics
contracts goes through its wire module: good ones decode and re-encode to an equal document
(optional fields absent from the sample come back with their defaults), bad ones are refused by
the decoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from sparsiflow import schemas
from sparsiflow.connector.wire.deltas import DeltaLogError, decode_delta, encode_delta
from sparsiflow.connector.wire.edge_updates import Decoded, assemble, decode, encode_records
from sparsiflow.connector.wire.edges import Position, decode_edge_record, edge_records
from sparsiflow.connector.wire.metrics_events import decode_metrics
from sparsiflow.engine.results import Delta

DELTA_DEFAULTS = {"recovered": [], "pruned": []}
METRICS_DEFAULTS = {
    "recovered": 0,
    "kappa_unavailable": None,
    "kappa_batch": None,
    "kappa_seconds": None,
    "kappa_before": None,
}


def _samples(name: str, kind: str) -> list[Any]:
    return [pytest.param(f, id=f.name) for f in schemas.samples(name, kind)]


@pytest.mark.parametrize("sample", _samples("edge-update", "good"))
@pytest.mark.parametrize("form", ["single", "batch"])
def test_good_input_events_decode_and_re_encode_to_the_same_updates(sample: Any, form: str) -> None:
    first = decode(sample.read_bytes())
    assert isinstance(first, Decoded)
    values = [v for v, _ in encode_records(first.graph, first.updates, form)]  # type: ignore[arg-type]
    again = [decode(v) for v in values]
    assert all(isinstance(d, Decoded) and d.graph == first.graph for d in again)
    back = assemble([d for d in again if isinstance(d, Decoded)])
    for name in ("ops", "u", "v", "w"):
        np.testing.assert_array_equal(getattr(back, name), getattr(first.updates, name))


@pytest.mark.parametrize("sample", _samples("edge-update", "bad"))
def test_bad_input_events_are_refused_with_the_reason_in_their_name(sample: Any) -> None:
    rejected = decode(sample.read_bytes())
    assert not isinstance(rejected, Decoded)
    assert rejected.reason.value == sample.name.split("--")[0]


@pytest.mark.parametrize("sample", _samples("sparsifier-delta", "good"))
def test_good_deltas_decode_and_re_encode_to_the_same_document(sample: Any) -> None:
    raw = sample.read_bytes()
    event = decode_delta(raw)
    again = encode_delta(event.graph, event.batch, event.source, event.delta, event.produced_at)
    assert orjson.loads(again) == DELTA_DEFAULTS | orjson.loads(raw)
    back = decode_delta(again)
    assert (back.graph, back.batch, back.source, back.produced_at, back.content) == (
        event.graph, event.batch, event.source, event.produced_at, event.content,
    )  # fmt: skip


@pytest.mark.parametrize("sample", _samples("sparsifier-delta", "bad"))
def test_bad_deltas_are_refused(sample: Any) -> None:
    with pytest.raises(DeltaLogError, match="unreadable delta"):
        decode_delta(sample.read_bytes())


@pytest.mark.parametrize("sample", _samples("quality-metrics", "good"))
def test_good_metrics_decode_and_re_encode_to_the_same_document(sample: Any) -> None:
    raw = sample.read_bytes()
    event = decode_metrics(raw)
    assert orjson.loads(event.encode()) == METRICS_DEFAULTS | orjson.loads(raw)
    assert decode_metrics(event.encode()) == event


@pytest.mark.parametrize("sample", _samples("quality-metrics", "bad"))
def test_bad_metrics_are_refused(sample: Any) -> None:
    with pytest.raises(ValueError):
        decode_metrics(sample.read_bytes())


def _edited(name: str, **changes: Any) -> bytes:
    doc = orjson.loads(schemas.samples(name, "good")[0].read_bytes())
    return orjson.dumps({k: v for k, v in (doc | changes).items() if v != "DROP"})


@pytest.mark.parametrize(
    "changes",
    [
        {"added": [[1, 2, 0]]},
        {"added": [[1, 2, 1.0, 4]]},
        {"removed": [[True, 2]]},
        {"removed": [[1, 2**63]]},
        {"recovered": [[1, 2, 1.0]]},
        {"graph": "/bad"},
        {"extra": 1},
        {"produced_at": "now"},
        {"source": {"partition": 0, "first_offset": 0}},
    ],
    ids=str,
)
def test_the_delta_decoder_refuses_what_the_contract_refuses(changes: dict[str, Any]) -> None:
    with pytest.raises(DeltaLogError, match="unreadable delta"):
        decode_delta(_edited("sparsifier-delta", **changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"density": 9.0}, "disagrees"),
        ({"kappa_method": "lanczos"}, "kappa_method"),
        ({"kappa": "DROP"}, "missing"),
        ({"recovered": -1}, "recovered"),
        ({"engine_seconds": -1.0}, "engine_seconds"),
    ],
)
def test_the_metrics_decoder_refuses_what_the_contract_refuses(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decode_metrics(_edited("quality-metrics", **changes))


def _edge_key(sample: Any) -> bytes:
    """The key a current-H sample goes with: a position has no edge in its value."""
    return b"g1" if "delta_offset" in orjson.loads(sample.read_bytes()) else b"g1/3/9"


@pytest.mark.parametrize("sample", _samples("sparsifier-edge", "good"))
def test_good_current_h_records_decode_and_re_encode(sample: Any) -> None:
    """An edge sample comes back as the record the encoder writes for an added edge; a position
    sample as the position record of its batch."""
    record = decode_edge_record(_edge_key(sample), sample.read_bytes())
    if isinstance(record, Position):
        written = edge_records("g1", record.batch, Delta(), record.delta_partition,
                               record.delta_offset)  # fmt: skip
    else:
        assert record.w is not None and record.batch is not None
        added = Delta(np.array([record.u]), np.array([record.v]), np.array([record.w]))
        written = edge_records("g1", record.batch, added, 0, 0)
    values = dict(written)
    assert orjson.loads(values[_edge_key(sample)] or b"") == orjson.loads(sample.read_bytes())


@pytest.mark.parametrize("sample", _samples("sparsifier-edge", "bad"))
def test_bad_current_h_records_are_refused(sample: Any) -> None:
    with pytest.raises(DeltaLogError, match="unreadable current-H record"):
        decode_edge_record(_edge_key(sample), sample.read_bytes())
