"""``bench.runs``: run specifications and one small run of each mode over the protocol."""

from __future__ import annotations

import pytest

from bench.profiles import GraphSpec
from bench.runs import parse_run, run
from bench.workload import build_workload


def test_run_specifications_parse_and_bad_ones_fail() -> None:
    config = parse_run("default:K=50,target=20")
    assert (config.mode, config.threshold, config.target_kappa) == ("default", 50.0, 20.0)
    assert parse_run("dygrass").threshold == 50.0
    assert parse_run("dygrass:K=5,threads=2").threads == 2
    assert parse_run("default:K=5,target=9,change=0.2").kappa_change == 0.2
    assert parse_run("default:K=auto,target=40").local_threshold == 10.0
    for bad in ("fast:K=1", "default:walkers=3", "default:K", "default:every=5"):
        with pytest.raises(ValueError, match="want MODE"):
            parse_run(bad)


def test_a_run_reports_both_phases_and_holds_its_target() -> None:
    spec = GraphSpec("delaunay", 11, "lognormal")
    work = build_workload(spec.name, spec.build(), 0.25, 0.01, 4, 0.10)
    plain = run(work, parse_run("dygrass:K=8"))
    held = run(work, parse_run("default:K=50,target=15"))
    for out in (plain, held):
        assert out["insert"]["updates_per_second"] > 0 and out["delete"]["updates_per_second"] > 0
        assert out["kappa"] >= 1.0 and out["kappa_rebuild_same_density"] >= 1.0
    assert plain["insert"]["walker_steps_per_second"] > 0
    assert held["kappa"] <= 15.0 * 1.01  # exact kappa within the target and the tolerance
    assert held["delete"]["quality_wait_seconds_per_batch"] > 0
