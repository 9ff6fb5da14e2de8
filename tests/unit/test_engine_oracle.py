"""The engine against its slow reference, and the invariants after every batch."""

from __future__ import annotations

import numpy as np
import pytest
from engine_checks import check_invariants, replay_delta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsiflow.connector.wire.deltas import delta_lists
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import Op, UpdateBatch
from sparsiflow.engine.reference import RefDelta, ReferenceEngine
from sparsiflow.engine.results import Delta

Scenario = tuple[list[tuple[int, int, float]], list[bool], list[UpdateBatch]]


def _random_graph(rng: np.random.Generator, n: int, extra: int) -> list[tuple[int, int, float]]:
    """A random spanning tree plus random extra edges, random real weights, scattered ids."""
    ids = rng.choice(10**12, size=n, replace=False)
    edges: dict[tuple[int, int], float] = {}
    for i in range(1, n):
        j = int(rng.integers(i))
        edges[(min(ids[i], ids[j]), max(ids[i], ids[j]))] = float(rng.lognormal())
    for _ in range(extra):
        a, b = rng.choice(n, 2, replace=False)
        edges[(min(ids[a], ids[b]), max(ids[a], ids[b]))] = float(rng.lognormal())
    return [(int(a), int(b), w) for (a, b), w in edges.items()]


def _spanning_mask(edges: list[tuple[int, int, float]], rng: np.random.Generator) -> list[bool]:
    """H at start: a spanning forest (union-find in edge order) plus some random extra edges."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    mask = []
    for a, b, _ in edges:
        ra, rb = root(a), root(b)
        mask.append(ra != rb or bool(rng.random() < 0.15))
        parent[ra] = rb
    return mask


def _random_batch(
    rng: np.random.Generator, edges: set[tuple[int, int]], nodes: list[int], size: int
) -> UpdateBatch:
    ops, us, vs, ws = [], [], [], []
    known = sorted(edges)
    for _ in range(size):
        roll = rng.random()
        if roll < 0.45 or not known:
            a, b = (int(x) for x in rng.choice(nodes, 2, replace=False))
            if rng.random() < 0.1:
                b = int(rng.integers(2**62))  # a brand-new node
            ops.append(Op.INSERT)
        elif roll < 0.8:
            a, b = known[int(rng.integers(len(known)))]
            ops.append(Op.DELETE)
        elif roll < 0.9:
            a, b = known[int(rng.integers(len(known)))]
            ops.append(Op.REWEIGHT)
        else:
            a, b = (int(x) for x in rng.choice(nodes, 2, replace=False))
            ops.append(Op.DELETE)  # often an unknown edge
        us.append(a)
        vs.append(b)
        ws.append(float(rng.lognormal()) if ops[-1] != Op.DELETE else float("nan"))
        edge = (min(a, b), max(a, b))
        if ops[-1] == Op.INSERT:
            edges.add(edge)
            known.append(edge)
            if b not in nodes:
                nodes.append(b)
        elif ops[-1] == Op.DELETE:
            edges.discard(edge)
    return UpdateBatch.build(np.array(ops, np.int8), us, vs, ws)


def _scenario(seed: int, n: int, batches: int, size: int) -> Scenario:
    rng = np.random.default_rng(seed)
    edges = _random_graph(rng, n, extra=n)
    mask = _spanning_mask(edges, rng)
    present = {(a, b) for a, b, _ in edges}
    nodes = sorted({x for a, b, _ in edges for x in (a, b)})
    return edges, mask, [_random_batch(rng, present, nodes, size) for _ in range(batches)]


def _engines(
    edges: list[tuple[int, int, float]], mask: list[bool], config: EngineConfig
) -> tuple[Engine, ReferenceEngine]:
    u = np.array([a for a, _, _ in edges], np.int64)
    v = np.array([b for _, b, _ in edges], np.int64)
    w = np.array([c for _, _, c in edges])
    m = np.array(mask)
    fast = Engine.from_graph(u, v, w, config=config, graph_id="g", sparsifier=(u[m], v[m]))
    ref = ReferenceEngine(config, graph_id="g")
    ref.load(edges, mask, [])
    return fast, ref


def _as_sets(
    delta: Delta,
) -> tuple[set[tuple[int, int, float]], set[tuple[int, int]], set[tuple[int, int, float]]]:
    lists = delta_lists(delta)
    return (
        {(int(a), int(b), float(c)) for a, b, c in lists["added"]},
        {(int(a), int(b)) for a, b in lists["removed"]},
        {(int(a), int(b), float(c)) for a, b, c in lists["reweighted"]},
    )


def _ref_sets(
    delta: RefDelta,
) -> tuple[set[tuple[int, int, float]], set[tuple[int, int]], set[tuple[int, int, float]]]:
    return set(delta.added), set(delta.removed), set(delta.reweighted)


CONFIGS = {
    # the local rules alone (no background kappa checks): the reference has none
    "default-1path": EngineConfig(
        mode="default", threshold=6.0, parallel_paths=1, seed=3, kappa_change=0, bulk_growth=0
    ),
    "default-3paths": EngineConfig(
        mode="default", threshold=6.0, parallel_paths=3, seed=3, kappa_change=0, bulk_growth=0
    ),
    "dygrass": EngineConfig(
        mode="dygrass",
        threshold=6.0,
        walkers=24,
        max_steps=12,
        seed=3,
        kappa_change=0,
        bulk_growth=0,
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 80), size=st.integers(1, 60))
def test_engine_matches_reference_and_keeps_invariants(
    name: str, seed: int, n: int, size: int
) -> None:
    edges, mask, batches = _scenario(seed, n, batches=4, size=size)
    fast, ref = _engines(edges, mask, CONFIGS[name])
    replayed = {
        (min(a, b), max(a, b)): w for (a, b, w), keep in zip(edges, mask, strict=True) if keep
    }
    for batch in batches:
        got = fast.apply(batch)
        want = ref.apply(batch)
        assert _as_sets(got.delta) == _ref_sets(want)
        replay_delta(replayed, got.delta)
        check_invariants(fast, replayed)
    assert replayed == ref.sparsifier()


def test_same_input_same_output() -> None:
    edges, mask, batches = _scenario(7, 60, batches=5, size=40)
    for config in CONFIGS.values():
        runs = []
        for _ in range(2):
            fast, _ = _engines(edges, mask, config)
            runs.append([delta_lists(fast.apply(b).delta) for b in batches])
        assert runs[0] == runs[1]


def test_seed_changes_walks_but_not_exact_rule() -> None:
    edges, mask, batches = _scenario(11, 80, batches=3, size=60)

    def run(config: EngineConfig) -> list[dict[str, list[list[int | float]]]]:
        fast, _ = _engines(edges, mask, config)
        return [delta_lists(fast.apply(b).delta) for b in batches]

    # the rules alone: kappa checks draw their Lanczos starts from the seed by design
    exact = EngineConfig(mode="default", threshold=4.0, kappa_change=0)
    assert run(exact) == run(EngineConfig(mode="default", threshold=4.0, kappa_change=0, seed=99))
    walks = EngineConfig(mode="dygrass", threshold=4.0, walkers=4, max_steps=8, kappa_change=0)
    assert run(walks) != run(
        EngineConfig(mode="dygrass", threshold=4.0, walkers=4, max_steps=8, kappa_change=0, seed=99)
    )


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_growth_from_empty_matches_reference(name: str) -> None:
    """Stream a graph into an empty engine: node blocks move, pools, hash and heap grow."""
    rng = np.random.default_rng(5)
    config = CONFIGS[name]
    fast, ref = Engine(config, graph_id="g"), ReferenceEngine(config, graph_id="g")
    present: set[tuple[int, int]] = set()
    nodes = [int(x) for x in rng.choice(10**9, 600, replace=False)]
    replayed: dict[tuple[int, int], float] = {}
    for _ in range(8):
        batch = _random_batch(rng, present, nodes, 700)
        got = fast.apply(batch)
        assert _as_sets(got.delta) == _ref_sets(ref.apply(batch))
        replay_delta(replayed, got.delta)
        check_invariants(fast, replayed)
    assert fast.stats().edges_graph == len(present)


def test_long_cycle_repair_overflows_heap_and_splits_components() -> None:
    """A 20k-node cycle: deleting H edges forces searches over the whole cycle."""
    n = 20_000
    u = np.arange(n, dtype=np.int64)
    v = (u + 1) % n
    w = np.random.default_rng(0).lognormal(size=n)
    in_h = np.ones(n, bool)
    in_h[n // 2] = False  # H is the cycle minus one edge: a spanning path
    engine = Engine.from_graph(u, v, w, config=EngineConfig(), sparsifier=(u[in_h], v[in_h]))
    report = engine.apply(UpdateBatch.build([Op.DELETE], [0], [1]))
    assert report.repaired == 1  # the only way round is the missing cycle edge
    assert engine.stats().components == 1
    report = engine.apply(UpdateBatch.build([Op.DELETE, Op.DELETE], [5000, 15000], [5001, 15001]))
    assert report.repaired == 0
    assert engine.stats().components == 3
    replayed = {
        (int(a), int(b)): float(c) for a, b, c in zip(*engine.sparsifier_edges(), strict=True)
    }
    check_invariants(engine, replayed)
