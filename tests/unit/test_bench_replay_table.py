"""``bench.replay_table``: the acceptance table through the user's commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.replay_table import cli_flags, main, replay_holds, split_stream
from bench.runs import parse_run


def test_flags_carry_the_whole_configuration() -> None:
    assert cli_flags(parse_run("dygrass:K=6.5")) == [
        "--mode", "dygrass", "--threshold", "6.5", "--target-kappa", "off",
        "--kappa-change", "0.0", "--threads", "1",
    ]  # fmt: skip
    flags = cli_flags(parse_run("default:K=auto,target=60,change=0.1,threads=2"))
    assert "--threshold" not in flags  # derived from the target by the command
    assert flags[flags.index("--target-kappa") + 1] == "60.0"
    assert flags[flags.index("--kappa-change") + 1] == "0.1"
    assert flags[flags.index("--threads") + 1] == "2"


def test_split_keeps_the_order_of_each_kind(tmp_path: Path) -> None:
    events = [
        {"graph": "g", "op": "insert", "u": 1, "v": 2, "w": 1.0},
        {"graph": "g", "op": "delete", "u": 1, "v": 3},
        {"graph": "g", "op": "reweight", "u": 4, "v": 2, "w": 2.0},
        {"graph": "g", "op": "delete", "u": 5, "v": 3},
    ]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    counts = split_stream(tmp_path / "u.jsonl", tmp_path / "i.jsonl", tmp_path / "d.jsonl")
    assert counts == (2, 2)
    read = [
        [json.loads(x) for x in (tmp_path / f).read_text().splitlines()]
        for f in ("i.jsonl", "d.jsonl")
    ]
    assert read == [[events[0], events[2]], [events[1], events[3]]]


def test_a_small_table_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        ["delaunay-2^9-unit", "default:K=8", "--work", str(tmp_path / "w"), "--out", str(tmp_path)]
    )
    lines = (tmp_path / "replay-delaunay-2^9-unit.jsonl").read_text().splitlines()
    head, row = json.loads(lines[0]), json.loads(lines[1])
    assert head["updates"] == [128, 5]
    assert (
        row["run"] == "default:K=8" and row["kappa"] >= 1.0 and row["kappa_fresh_sparsify"] >= 1.0
    )
    assert row["density"] - row["off_tree_density"] == pytest.approx(1 - 1 / 512)  # connected
    assert row["invariants"] == dict.fromkeys(
        ("h_subgraph_of_g_with_g_weights", "same_components", "deltas_replay_to_h"), True
    )
    out = capsys.readouterr().out
    assert "| invariants |" in out and "| default:K=8 |" in out and out.rstrip().endswith("| yes |")
    # the check sees a lost delta and an H that is not G's
    first = tmp_path / "w" / "delaunay-2^9-unit" / "default_K8" / "insert"
    deltas = (first / "deltas.jsonl").read_bytes().splitlines()
    assert any(b'"added":[[' in line for line in deltas)
    kept = [line for line in deltas if b'"added":[[' not in line]
    (first / "deltas.jsonl").write_bytes(b"".join(line + b"\n" for line in kept))
    start = tmp_path / "w" / "delaunay-2^9-unit" / "h0.mtx"
    assert replay_holds(start, first)["deltas_replay_to_h"] is False
    (first / "sparsifier.mtx").write_bytes(start.read_bytes().replace(b" 1\n", b" 2\n", 1))
    assert replay_holds(start, first)["h_subgraph_of_g_with_g_weights"] is False
