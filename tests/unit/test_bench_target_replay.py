"""``bench.target_replay``: holding a target over a replay against rebuilding, by the commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.target_replay import main, reported_seconds


def test_reported_seconds_reads_sparsify_closing_line() -> None:
    line = "h.mtx: 9 of 12 edges on 8 nodes (density 1.1, off-tree 0.1) in 0.61 s (--seed 0)"
    assert reported_seconds(f"warning: slow disk\n{line}\n") == 0.61
    with pytest.raises(ValueError, match="no seconds"):
        reported_seconds("h.mtx written")


def test_a_small_table_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.json"
    assert main(["delaunay-2^10-unit", "--work", str(tmp_path / "w"), "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["graphs"]
    assert row["graph"] == "delaunay-2^10-unit" and row["insertions"] == 256
    assert row["target_kappa"] == round(0.7 * row["kappa_without_target"], 1)
    assert 1 < row["kappa"] <= 1.1 * row["target_kappa"]  # held, to the estimates' tolerance
    assert 1 < row["rebuild_to_target_kappa"] <= 1.1 * row["target_kappa"]
    assert row["static_kappa_same_density"] > 1
    assert row["wall_seconds"] >= row["engine_seconds"] > 0
    assert row["rebuild_seconds"] > 0 and row["rebuild_to_target_seconds"] > 0
    assert row["invariants"] == dict.fromkeys(
        ("h_subgraph_of_g_with_g_weights", "same_components", "deltas_replay_to_h"), True
    )
    table = capsys.readouterr().err
    assert "| replay wall s |" in table and "| delaunay-2^10-unit |" in table
