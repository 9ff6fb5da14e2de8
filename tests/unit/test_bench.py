"""The benchmark harness's pure parts: matched-density interpolation, the protocol's streams,
the result schema and the headline (on the committed latest results)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import fastjsonschema
import numpy as np
import pytest

from bench.matching import (
    crossing,
    density_at_kappa,
    kappa_at_density,
    matched_target,
    threshold_for_density,
)
from bench.report import headline, markdown
from bench.schema import json_ready, validate
from bench.series import graphs_after_batches
from bench.workload import build_workload
from sparsiflow.engine.graph.edges import components, locate
from sparsiflow.workloads.families import delaunay

LATEST = sorted(
    (Path(__file__).resolve().parents[2] / "bench" / "results" / "latest").rglob("results.json")
)


def test_crossing_linear_and_log() -> None:
    assert crossing([0.0, 1.0, 2.0], [0.0, 10.0, 20.0], 15.0) == pytest.approx(1.5)
    assert crossing([1.0, 100.0], [0.0, 1.0], 0.5, log_x=True) == pytest.approx(10.0)
    assert crossing([0.0, 1.0], [5.0, 6.0], 7.0) is None
    assert crossing([0.0, 1.0, 2.0], [1.0, 3.0, 1.0], 2.0) == pytest.approx(0.5)  # first one
    assert crossing([3.0], [7.0], 7.0) == 3.0
    with pytest.raises(ValueError):
        crossing([0.0], [1.0, 2.0], 1.0)


def test_kappa_at_density_interpolates_log_kappa() -> None:
    curve = [(0.30, 10.0), (0.10, 1000.0), (0.20, 100.0)]  # any order
    assert kappa_at_density(curve, 0.15) == pytest.approx(math.sqrt(100.0 * 1000.0))
    assert kappa_at_density(curve, 0.20) == pytest.approx(100.0)
    assert kappa_at_density(curve, 0.05) is None  # no extrapolation
    assert kappa_at_density(curve, 0.31) is None
    assert kappa_at_density([], 0.1) is None
    assert kappa_at_density([(0.2, 4.0), (0.2, 16.0)], 0.2) == pytest.approx(8.0)  # merged
    assert kappa_at_density([(0.1, math.inf), (0.2, 50.0)], 0.2) == pytest.approx(50.0)


def test_density_at_kappa() -> None:
    curve = [(0.10, 1000.0), (0.20, 100.0), (0.30, 10.0)]
    assert density_at_kappa(curve, 100.0) == pytest.approx(0.20)
    assert density_at_kappa(curve, math.sqrt(10.0 * 100.0)) == pytest.approx(0.25)
    assert density_at_kappa(curve, 5.0) is None  # never reached
    assert density_at_kappa(curve, 2000.0) is None  # beaten below the swept range
    assert density_at_kappa(curve, kappa_at_density(curve, 0.1) or 0) == pytest.approx(0.1)
    bumpy = [(0.1, 100.0), (0.2, 10.0), (0.3, 1000.0), (0.4, 1.0)]
    assert density_at_kappa(bumpy, 100.0 * (1 + 1e-12)) == pytest.approx(0.1)
    least = density_at_kappa(bumpy, 50.0)  # the least density that gets there
    assert least is not None and 0.1 < least < 0.2


def test_threshold_for_density_uses_log_k() -> None:
    sweep = [(16.0, 0.10), (1.0, 0.30), (4.0, 0.20)]
    assert threshold_for_density(sweep, 0.25) == pytest.approx(2.0)
    assert threshold_for_density(sweep, 0.15) == pytest.approx(8.0)
    assert threshold_for_density(sweep, 0.40) is None


def test_matched_target_clamps_into_the_overlap() -> None:
    assert matched_target(0.14, [(0.10, 0.35), (0.11, 0.35)]) == 0.14
    assert matched_target(0.14, [(0.10, 0.35), (0.25, 0.35)]) == 0.25
    assert matched_target(0.40, [(0.10, 0.35), (0.11, 0.30)]) == 0.30
    assert matched_target(0.14, [(0.10, 0.12), (0.20, 0.35)]) is None


def test_workload_deletes_h0_edges_and_keeps_g_connected() -> None:
    full = delaunay(600, seed=3)
    work = build_workload("t", full, 0.25, 0.05, 4, 0.10, seed=3)
    assert sum(len(b) for b in work.inserts) == round(0.25 * 600)
    assert len(work.inserts) == len(work.deletes) == 4
    gone = [(u, v) for b in work.deletes for u, v in zip(b.u, b.v, strict=True)]
    assert len(gone) == len(set(gone)) == 30
    h0 = {(int(u), int(v)) for u, v in zip(work.h0.u, work.h0.v, strict=True)}
    assert all((min(u, v), max(u, v)) in h0 for u, v in gone)
    graphs = list(graphs_after_batches(work))
    assert [(p, end) for p, end, _, _ in graphs][3:5] == [("insert", True), ("delete", False)]
    after_inserts, final = graphs[3][2], graphs[-1][2]
    assert np.array_equal(after_inserts.keys(), full.keys())
    assert final.m == full.m - 30 and components(final)[0] == 1
    assert (locate(full, final) >= 0).all()


def test_json_ready() -> None:
    raw = {"a": np.float64(1.5), 2: [np.int64(3), math.inf, (math.nan,)], "b": None}
    assert json_ready(raw) == {"a": 1.5, "2": [3, None, [None]], "b": None}
    json.dumps(json_ready(raw), allow_nan=False)


@pytest.fixture(scope="module", params=LATEST, ids=lambda p: p.parent.name)
def latest(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(json.loads(request.param.read_text()))


def test_latest_results_are_committed() -> None:
    assert LATEST, "bench/results/latest/ should hold the documented results"


def test_latest_results_fit_the_schema(latest: dict[str, Any]) -> None:
    validate(latest)
    broken = copy.deepcopy(latest)
    del broken["graphs"][0]["series"]["rebuild"]
    with pytest.raises(fastjsonschema.JsonSchemaException):
        validate(broken)
    broken = copy.deepcopy(latest)
    broken["graphs"][0]["series"]["default"]["batches"][0]["phase"] = "other"
    with pytest.raises(fastjsonschema.JsonSchemaException):
        validate(broken)


def test_headline_is_recomputed_from_the_graphs(latest: dict[str, Any]) -> None:
    assert [headline(g) for g in latest["graphs"]] == latest["headline"]
    table = markdown(latest)
    assert latest["machine"]["cpu_model"] in table
    assert all(g["name"] in table for g in latest["graphs"])


def test_intake_cost_measures_both_paths(tmp_path: Path) -> None:
    from bench import intake_cost
    from sparsiflow.connector.stream import processor

    out = tmp_path / "intake.json"
    default = processor.MIN_RUN
    assert intake_cost.main(["--nodes", "512", "--records", "1500", "--repeats", "1",
                             "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert default == processor.MIN_RUN  # put back
    assert result["records"] == 1500 and result["machine"]["cores"] >= 1
    for path in ("runs", "record_by_record"):
        assert result[path]["event_loop_us_per_record"] > 0 and result[path]["records_per_s"] > 0


def test_check_cost_replays_each_graph_and_holds_the_default_target(tmp_path: Path) -> None:
    from bench import check_cost

    out = tmp_path / "checks.json"
    graphs = "delaunay,grid-circuit"
    args = ["--nodes", "1024", "--batch", "400", "--graphs", graphs, "--out", str(out)]
    assert check_cost.main(args) == 0
    result = json.loads(out.read_text())
    for name in ("delaunay", "grid-circuit"):
        found = result[name]
        assert found["checks"] > 0 and found["check_seconds"] > 0
        assert 0 <= found["waited_for_checks_seconds"] <= found["wall_seconds"]
        assert 1 < found["kappa"] <= 1.1 * 100  # the default target, held to its tolerance
        assert 0 < found["off_tree_density"] < 1
    assert result["machine"]["cores"] >= 1
