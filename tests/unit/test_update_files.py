"""Update files (JSONL input events, ``.mtx`` streams): written with the shared encoder, read
with the worker's decoder, so a line is accepted exactly when the worker accepts that record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsiflow import schemas
from sparsiflow.connector.cli.main import main
from sparsiflow.connector.wire.edge_updates import Decoded, decode
from sparsiflow.connector.wire.matrix_market import write_graph
from sparsiflow.connector.wire.rejections import Rejected
from sparsiflow.connector.wire.update_files import UpdateFileError, read_update_file, write_updates
from sparsiflow.engine.exceptions import InvalidUpdateError
from sparsiflow.engine.graph.edges import EdgeList
from sparsiflow.engine.graph.updates import Op, UpdateBatch

ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(list(Op)),
        st.integers(0, 2**63 - 1),
        st.integers(0, 2**63 - 1),
        st.floats(1e-300, 1e300),
    ).filter(lambda r: r[1] != r[2]),
    max_size=30,
)
graph_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,7}", fullmatch=True)


def _same(a: UpdateBatch, b: UpdateBatch) -> bool:
    return (
        np.array_equal(a.ops, b.ops)
        and np.array_equal(a.u, b.u)
        and np.array_equal(a.v, b.v)
        and np.array_equal(a.w, b.w, equal_nan=True)
    )


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops_strategy, graph_ids)
def test_jsonl_round_trip(tmp_path: Path, rows: list[tuple[Op, int, int, float]], gid: str) -> None:
    ops = [int(r[0]) for r in rows]
    w = [np.nan if r[0] == Op.DELETE else r[3] for r in rows]
    batch = UpdateBatch.build(ops, [r[1] for r in rows], [r[2] for r in rows], w)
    path = tmp_path / "u.jsonl"
    write_updates(path, batch, gid)
    assert _same(read_update_file(path, graph=gid), batch)
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
    a = read_update_file(path, graph="a")
    assert a.ops.tolist() == [Op.INSERT, Op.REWEIGHT, Op.DELETE, Op.DELETE]
    assert a.u.tolist() == [1, 3, 4, 7] and a.w[:2].tolist() == [2.0, 0.5]
    assert len(read_update_file(path)) == 5
    assert len(read_update_file(path, graph="c")) == 0


def test_an_mtx_file_is_a_stream_of_insertions(tmp_path: Path) -> None:
    write_graph(tmp_path / "s.mtx", EdgeList.normalize([0, 1], [1, 2], [2.0, 3.0]))
    batch = read_update_file(tmp_path / "s.mtx", graph="ignored")
    assert batch.ops.tolist() == [Op.INSERT, Op.INSERT] and sorted(batch.w.tolist()) == [2, 3]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"graph": "a", "op": "upsert", "u": 1, "v": 2, "w": 1}', "unknown_op: unknown op"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 1, "w": 1}', "self_loop: self-loop"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 2, "w": -1}', "bad_weight: .*finite"),
        ('{"graph": "a", "op": "insert", "u": 1, "v": 2}', "schema: insert needs a weight"),
        ('{"graph": "a", "op": "insert", "u": "1", "v": 2, "w": 1}', "schema: u must be an int"),
        ('{"graph": "a", "op": "insert", "u": true, "v": 2, "w": 1}', "schema: u must be an int"),
        ('{"graph": "a", "op": "delete", "u": 1.5, "v": 2}', "schema: u must be an integer"),
        ('{"graph": "a", "op": "insert", "u": -1, "v": 2, "w": 1}', "bad_node_id: u: node id"),
        ('{"graph": "a", "ops": ["insert"], "u": [1], "v": [2], "w": [1, 2]}', "differ in len"),
        ('{"graph": "a", "op": "insert", "u": 1', "malformed_json: not UTF-8 JSON"),
        ("[1, 2]", "schema: an event is a JSON object"),
        ('{"graph": "a", "op": "delete", "u": 1, "v": 2, "x": 0}', "schema: unknown field"),
    ],
)
def test_bad_events_name_their_line_and_reason(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"graph": "a", "op": "insert", "u": 1, "v": 2, "w": 1}\n' + line + "\n")
    with pytest.raises(UpdateFileError, match=message) as info:
        read_update_file(path)
    assert isinstance(info.value, InvalidUpdateError)
    assert str(info.value).startswith(f"{path}:2: ") and info.value.line == 2


def test_a_bad_line_of_another_graph_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"graph": "b", "op": "insert", "u": 1, "v": 1, "w": 1}\n')
    with pytest.raises(UpdateFileError, match=":1: self_loop"):
        read_update_file(path, graph="a")


# The corpus: every edge-update sample, and the cases where the two decoders used to disagree.
EDGE_CASES = {
    "integral-float-id": b'{"graph": "g", "op": "insert", "u": 2.0, "v": 3, "w": 1}',
    "fractional-id": b'{"graph": "g", "op": "insert", "u": 2.5, "v": 3, "w": 1}',
    "unknown-field": b'{"graph": "g", "op": "insert", "u": 1, "v": 3, "w": 1, "note": "x"}',
    "huge-weight": b'{"graph": "g", "op": "insert", "u": 1, "v": 3, "w": 1e999}',
    "nan-weight": b'{"graph": "g", "op": "insert", "u": 1, "v": 3, "w": NaN}',
    "delete-without-w": b'{"graph": "g", "op": "delete", "u": 1, "v": 3}',
    "batch-form": b'{"graph": "g", "ops": ["insert", "delete"], "u": [1, 1], "v": [3, 3],'
    b' "w": [2, null]}',
    "empty-batch": b'{"graph": "g", "ops": [], "u": [], "v": [], "w": []}',
    "boolean-ids": b'{"graph": "g", "op": "insert", "u": true, "v": false, "w": 1}',
    "boolean-ids-batch": b'{"graph": "g", "ops": ["insert"], "u": [true], "v": [2], "w": [1]}',
    "duplicate-keys": b'{"graph": "g", "op": "insert", "u": 1, "v": 3, "w": 1, "w": 2}',
    "float-id-batch": b'{"graph": "g", "ops": ["delete"], "u": [4.0], "v": [5]}',
    "crlf": b'{"graph": "g", "op": "delete", "u": 1, "v": 3}\r',
}


def _corpus() -> dict[str, bytes]:
    lines = dict(EDGE_CASES)
    for kind in ("good", "bad"):
        for sample in schemas.samples("edge-update", kind):
            value = sample.read_bytes().removesuffix(b"\n")
            assert b"\n" not in value, f"{sample.name} must be one line"
            if value.strip():  # a blank line is skipped in a file (the empty record is not)
                lines[f"{kind}/{sample.name}"] = value
    return lines


CORPUS = _corpus()


def _file(tmp_path: Path, name: str, value: bytes) -> Path:
    path = tmp_path / f"{name.replace('/', '_')}.jsonl"
    path.write_bytes(b'{"graph": "g", "op": "insert", "u": 0, "v": 1, "w": 1}\n' + value + b"\n")
    return path


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_file_reader_accepts_exactly_what_the_worker_accepts(tmp_path: Path, name: str) -> None:
    value = CORPUS[name]
    worker = decode(value)
    path = _file(tmp_path, name, value)
    if isinstance(worker, Rejected):
        with pytest.raises(UpdateFileError) as info:
            read_update_file(path)
        assert info.value.line == 2 and info.value.rejected == worker
        assert f":2: {worker.reason.value}: {worker.message}" in str(info.value)
    else:
        read = read_update_file(path)
        assert _same(read.slice(1, len(read)), worker.updates)


def test_the_corpus_holds_both_outcomes() -> None:
    outcomes = {name: isinstance(decode(v), Decoded) for name, v in CORPUS.items()}
    assert outcomes["integral-float-id"] and outcomes["delete-without-w"]
    assert outcomes["batch-form"]
    for refused in ("fractional-id", "unknown-field", "huge-weight", "nan-weight", "empty-batch",
                    "duplicate-keys"):  # fmt: skip
        assert not outcomes[refused], refused
    assert not outcomes["boolean-ids"] and not outcomes["boolean-ids-batch"]


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> list[UpdateBatch]:
    """What ``sparsiflow produce`` would send, captured instead of sent."""
    import sparsiflow.connector.kafka.probe as probe_module
    import sparsiflow.connector.kafka.produce as produce_module
    import sparsiflow.connector.kafka.topics as topics_module

    sent: list[UpdateBatch] = []

    def fake_produce(config: Any, topic: str, graph: str, updates: UpdateBatch, **_: Any) -> Any:
        sent.append(updates)
        return produce_module.ProduceReport(1, len(updates), 1.0, {0: 0})

    monkeypatch.setattr(produce_module, "produce", fake_produce)
    monkeypatch.setattr(topics_module, "ensure_topics", lambda *args, **kwargs: None)
    monkeypatch.setattr(probe_module, "check_broker", lambda *args, **kwargs: None)  # no broker
    return sent


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_produce_and_replay_read_update_files_as_the_worker_does(
    tmp_path: Path, name: str, produced: list[UpdateBatch]
) -> None:
    value = CORPUS[name]
    worker = decode(value)
    path = _file(tmp_path, name, value)
    produce = CliRunner().invoke(main, ["produce", "--graph-id", "g", "--updates", str(path)])
    if isinstance(worker, Rejected):
        assert produce.exit_code != 0 and produced == []
        assert f"{path}:2: {worker.reason.value}: " in produce.output
        write_graph(tmp_path / "g.mtx", EdgeList.normalize([0], [1]))
        args = ["--graph", str(tmp_path / "g.mtx"), "--updates", str(path)]
        replay = CliRunner().invoke(
            main, ["replay", *args, "--batch-size", "5", "--out", str(tmp_path / "o")]
        )
        assert replay.exit_code != 0 and f"{path}:2: {worker.reason.value}: " in replay.output
    else:
        assert produce.exit_code == 0, produce.output
        (sent,) = produced
        assert _same(sent.slice(1, len(sent)), worker.updates)


def test_replay_reads_every_accepted_line(tmp_path: Path) -> None:
    accepted = [v for v in CORPUS.values() if isinstance(decode(v), Decoded)]
    rows = sum(len(d.updates) for d in map(decode, accepted) if isinstance(d, Decoded))
    (tmp_path / "u.jsonl").write_bytes(b"\n".join(accepted) + b"\n")
    write_graph(tmp_path / "g.mtx", EdgeList.normalize([0, 1, 2], [1, 2, 3], n=10))
    args = ["--graph", str(tmp_path / "g.mtx"), "--updates", str(tmp_path / "u.jsonl")]
    result = CliRunner().invoke(
        main, ["replay", *args, "--batch-size", "4", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "metrics.json").read_text())["summary"]
    assert summary["updates"] == rows
