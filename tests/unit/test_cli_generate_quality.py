"""``sparsiflow generate`` and ``sparsiflow quality`` end to end on small graphs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sparsiflow.connector.cli.main import main
from sparsiflow.connector.wire.matrix_market import read_graph, write_graph
from sparsiflow.connector.wire.update_files import read_update_file
from sparsiflow.engine.graph.edges import components
from sparsiflow.engine.graph.updates import Op
from sparsiflow.workloads.streams import spanning_forest


@pytest.mark.parametrize("kind", ["delaunay", "grid-circuit", "fem-mesh", "power-law"])
def test_generate_writes_a_connected_graph(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "g.mtx"
    result = CliRunner().invoke(main, ["generate", kind, "--nodes", "300", "--out", str(out)])
    assert result.exit_code == 0, result.output
    g = read_graph(out)
    assert g.n == 300 and components(g)[0] == 1


def test_generate_with_updates_and_weights(tmp_path: Path) -> None:
    out, updates = tmp_path / "base.mtx", tmp_path / "u.jsonl"
    args = ["generate", "delaunay", "-n", "400", "--out", str(out), "--updates", str(updates)]
    args += ["--weights", "lognormal", "--insert-frac", "0.2", "--delete-frac", "0.05"]
    args += ["--graph-id", "mesh", "--seed", "3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr
    batch = read_update_file(updates, graph="mesh")
    assert (batch.ops == Op.INSERT).sum() == 80 and (batch.ops == Op.DELETE).sum() == 20
    base = read_graph(out)
    assert components(base)[0] == 1 and len({float(w) for w in base.w}) > 1


def test_quality_prints_json(tmp_path: Path) -> None:
    runner = CliRunner()
    gpath, hpath = tmp_path / "g.mtx", tmp_path / "h.mtx"
    assert (
        runner.invoke(main, ["generate", "fem-mesh", "-n", "500", "--out", str(gpath)]).exit_code
        == 0
    )
    g = read_graph(gpath)
    write_graph(hpath, g.subset(spanning_forest(g, 0)))
    for method in ("dense", "sparse", "auto"):
        result = runner.invoke(
            main, ["quality", "--graph", str(gpath), "--sparsifier", str(hpath), "--method", method]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["kappa"] > 1 and report["lambda_min"] == pytest.approx(1.0)
        assert report["off_tree_density"] == pytest.approx(0.0)
        assert report["components"] == 1 and report["nodes"] == 500


def test_quality_rejects_a_non_subgraph(tmp_path: Path) -> None:
    gpath, hpath = tmp_path / "g.mtx", tmp_path / "h.mtx"
    gpath.write_text("%%MatrixMarket matrix coordinate pattern symmetric\n3 3 1\n2 1\n")
    hpath.write_text("%%MatrixMarket matrix coordinate pattern symmetric\n3 3 1\n3 1\n")
    result = CliRunner().invoke(
        main, ["quality", "--graph", str(gpath), "--sparsifier", str(hpath)]
    )
    assert result.exit_code != 0 and "not a subgraph" in result.output
    hpath.write_text("not a matrix\n")
    result = CliRunner().invoke(
        main, ["quality", "--graph", str(gpath), "--sparsifier", str(hpath)]
    )
    assert result.exit_code != 0 and "Matrix Market" in result.output
