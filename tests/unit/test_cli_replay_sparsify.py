"""``sparsiflow replay`` and ``sparsiflow sparsify`` end to end on small generated graphs."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from contract_oracle import validator

from sparsiflow.connector.cli.main import main
from sparsiflow.connector.downstream.materialize import EdgeMap, Materialized
from sparsiflow.connector.wire.deltas import DeltaEvent, decode_delta, delta_lists
from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
from sparsiflow.connector.wire.update_files import write_updates
from sparsiflow.engine.graph.edges import EdgeList, components, locate
from sparsiflow.workloads.families import delaunay
from sparsiflow.workloads.streams import update_stream


@pytest.fixture
def stream_files(tmp_path: Path) -> tuple[Path, Path, EdgeList]:
    full = delaunay(900, weights="lognormal", seed=2)
    stream = update_stream(full, 0.25, 0.02, seed=2)
    write_graph(tmp_path / "g.mtx", stream.base)
    write_updates(tmp_path / "u.jsonl", stream.batch(), "g")
    return tmp_path / "g.mtx", tmp_path / "u.jsonl", full


def _replay(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["replay", *args])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("mode", ["default", "dygrass"])
def test_replay_outputs_agree(
    tmp_path: Path, stream_files: tuple[Path, Path, EdgeList], mode: str
) -> None:
    graph, updates, full = stream_files
    out = tmp_path / mode
    _replay(
        [
            "--graph",
            str(graph),
            "--updates",
            str(updates),
            "--batch-size",
            "25",
            "--out",
            str(out),
            "--mode",
            mode,
            "--threshold",
            "8",
            "--walkers",
            "64",
            "--max-steps",
            "30",
            "--kappa",
        ]
    )
    g, h = read_graph(out / "graph.mtx"), read_graph(out / "sparsifier.mtx")
    assert (locate(g, h) >= 0).all(), "H must be a subgraph of G"
    assert components(g)[0] == components(h)[0] == 1
    base = read_graph(graph)
    assert g.m == full.m - round(0.02 * 900)  # every insertion and deletion reached G
    # replaying the deltas onto the start sparsifier gives the written H
    metrics = json.loads((out / "metrics.json").read_text())
    batches = len(metrics["batches"])  # 10 of updates, then the settling ones (no updates)
    assert 10 <= batches <= 12 and metrics["summary"]["updates"] == 225 + 18
    assert all(b["inserted"] + b["deleted"] == 0 for b in metrics["batches"][10:])
    assert metrics["summary"]["quality"]["kappa"] >= 1.0
    assert metrics["summary"]["warmup_seconds"] > 0  # kernels loaded before the first batch
    assert [b["batch"] for b in metrics["batches"]] == list(range(batches))
    # deltas.jsonl holds the deltas topic's events: the one decoder reads them, and they
    # replay onto the start sparsifier to the written H (checked apply and materialize alike)
    raw = (out / "deltas.jsonl").read_bytes().splitlines()
    assert all(validator("sparsifier-delta").is_valid(orjson.loads(line)) for line in raw)
    events = [decode_delta(line) for line in raw]
    assert [e.batch for e in events] == list(range(batches))
    assert {e.graph for e in events} == {"replay"}
    firsts = [e.source.first_offset for e in events]
    lasts = [e.source.last_offset for e in events]
    assert firsts == [0, *(x + 1 for x in lasts[:-1])] and lasts[-1] == 225 + 18 - 1
    assert all(e.source.last_offset == e.source.first_offset - 1 for e in events[10:])
    assert {e.source.partition for e in events} == {0}
    assert base.n == g.n
    final = {(int(a), int(b)): float(w) for a, b, w in zip(h.u, h.v, h.w, strict=True)}
    start = _start_h(tmp_path, graph)
    assert _apply_deltas(dict(start), events) == final
    rebuilt = Materialized("replay", sparsifier=EdgeMap(dict(start)))
    for event in events:
        rebuilt.add_delta(event)
    assert rebuilt.sparsifier.edges == final and rebuilt.batches == batches


def test_replay_runs_kappa_checks_that_hold_the_target(
    tmp_path: Path, stream_files: tuple[Path, Path, EdgeList]
) -> None:
    graph, updates, _ = stream_files
    args = ["--graph", str(graph), "--updates", str(updates), "--batch-size", "25"]
    held = ["--target-kappa", "20", "--kappa-change", "0.001", "--threads", "2"]
    _replay([*args, "--out", str(tmp_path / "held"), "--threshold", "1000", *held])
    metrics = json.loads((tmp_path / "held" / "metrics.json").read_text())
    readings = [(b["batch"], b["kappa"]) for b in metrics["batches"] if b["kappa"] is not None]
    assert [batch for batch, _ in readings] == list(range(1, len(metrics["batches"])))
    assert all(k["batch"] == batch - 1 and k["value"] <= 20 for batch, k in readings)
    assert sum(b["recovered"] for b in metrics["batches"]) > 0
    assert metrics["summary"]["config"]["kappa_change"] == 0.001
    assert metrics["summary"]["config"]["threads"] == 2
    _replay([*args, "--out", str(tmp_path / "off"), "--target-kappa", "off", "--kappa-change",
             "0.001"])  # fmt: skip
    measured = json.loads((tmp_path / "off" / "metrics.json").read_text())["batches"]
    assert sum(b["recovered"] for b in measured) == 0
    assert all(b["kappa"]["value"] >= 1 for b in measured[1:])
    assert (
        json.loads((tmp_path / "off" / "metrics.json").read_text())["summary"]["config"][
            "target_kappa"
        ]
        is None
    )


def _start_h(tmp_path: Path, graph: Path) -> dict[tuple[int, int], float]:
    out = tmp_path / "h0.mtx"
    assert CliRunner().invoke(main, ["sparsify", str(graph), "-o", str(out)]).exit_code == 0
    h0 = read_graph(out)
    return {(int(a), int(b)): float(w) for a, b, w in zip(h0.u, h0.v, h0.w, strict=True)}


def _apply_deltas(
    h: dict[tuple[int, int], float], events: list[DeltaEvent]
) -> dict[tuple[int, int], float]:
    for event in events:
        d = delta_lists(event.delta)
        for a, b in d["removed"]:
            del h[(a, b)]
        for a, b, w in d["reweighted"]:
            h[(a, b)] = w
        for a, b, w in d["added"]:
            assert (a, b) not in h
            h[(a, b)] = w
    return h


def test_sparsify_keeps_a_spanning_tree_plus_the_asked_density(tmp_path: Path) -> None:
    g = delaunay(2000, seed=1)
    write_graph(tmp_path / "g.mtx", g)
    result = CliRunner().invoke(
        main,
        [
            "sparsify",
            str(tmp_path / "g.mtx"),
            "-o",
            str(tmp_path / "h.mtx"),
            "--off-tree-density",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    h = read_graph(tmp_path / "h.mtx")
    assert components(h)[0] == 1 and (locate(g, h) >= 0).all()
    assert h.m == (2000 - 1) + 100


def test_replay_reads_the_papers_stream_format(tmp_path: Path) -> None:
    full = delaunay(500, weights="lognormal", seed=4)
    stream = update_stream(full, 0.2, 0.0, seed=4)
    write_graph(tmp_path / "g.mtx", stream.base)
    inserted = EdgeList(full.n, stream.u, stream.v, stream.w)
    write_graph(tmp_path / "stream.mtx", inserted)
    _replay(
        [
            "--graph",
            str(tmp_path / "g.mtx"),
            "--updates",
            str(tmp_path / "stream.mtx"),
            "--batch-size",
            "25",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert read_graph(tmp_path / "o" / "graph.mtx").m == full.m


def test_replay_rejects_bad_arguments(
    tmp_path: Path, stream_files: tuple[Path, Path, EdgeList]
) -> None:
    graph, updates, _ = stream_files
    result = CliRunner().invoke(
        main,
        [
            "replay",
            "--graph",
            str(graph),
            "--updates",
            str(updates),
            "--batch-size",
            "0",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code != 0 and "batch-size" in result.output
    (tmp_path / "bad.jsonl").write_text('{"graph": "g", "op": "insert", "u": 1, "v": 1, "w": 1}\n')
    result = CliRunner().invoke(
        main,
        [
            "replay",
            "--graph",
            str(graph),
            "--updates",
            str(tmp_path / "bad.jsonl"),
            "--batch-size",
            "5",
            "--out",
            str(tmp_path / "y"),
        ],
    )
    assert result.exit_code != 0 and "self-loop" in result.output
