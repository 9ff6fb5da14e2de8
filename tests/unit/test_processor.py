"""The processor's order of work with test doubles of its own ports (sink, ack, clock) and the
real engine: outputs are delivered before the inputs they cover are acknowledged."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
import pytest
from contract_oracle import validator
from prometheus_client import CollectorRegistry

from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.stream import processor as processor_module
from sparsiflow.connector.stream.batcher import BatchPolicy
from sparsiflow.connector.stream.graphs import GraphLimits, GraphTable
from sparsiflow.connector.stream.processor import OutputTopics, Processor, ProcessorFailedError
from sparsiflow.connector.stream.records import InputRecord, OutputRecord
from sparsiflow.connector.wire.dead_letters import read_dlq_headers
from sparsiflow.connector.wire.edge_updates import decode_run, encode_update
from sparsiflow.engine.config import EngineConfig
from sparsiflow.engine.engine import Engine
from sparsiflow.engine.graph.updates import Op
from sparsiflow.engine.quality.estimator import KappaEstimator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Log:
    """Sink and ack doubles writing one shared log, so tests can check their order."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, object]] = []
        self.fail = fail

    async def deliver(self, records: Sequence[OutputRecord]) -> list[int]:
        if self.fail:
            raise ConnectionError("broker gone")
        first = len(self.events)
        self.events += [("deliver", r) for r in records]
        return list(range(first, first + len(records)))  # any increasing offsets

    async def ack(self, handles: Sequence[object]) -> None:
        self.events += [("ack", h) for h in handles]

    def delivered(self, topic: str) -> list[OutputRecord]:
        return [r for kind, r in self.events if kind == "deliver" and r.topic == topic]  # type: ignore[attr-defined]

    def acked(self) -> list[object]:
        return [h for kind, h in self.events if kind == "ack"]


TOPICS = OutputTopics("deltas", "metrics", "dlq")


def make(
    log: Log,
    clock: Clock,
    max_size: int = 4,
    limits: GraphLimits | None = None,
    metrics: WorkerMetrics | None = None,
    config: EngineConfig | None = None,
    pipeline: int = 0,
) -> Processor:
    return Processor(
        graphs=GraphTable(
            lambda g: Engine(config, graph_id=g),
            BatchPolicy(max_size, 1.0),
            limits or GraphLimits(),
            clock,
        ),
        topics=TOPICS,
        sink=log,
        ack=log.ack,
        executor=ThreadPoolExecutor(1),
        metrics=metrics,
        wall_clock=lambda: 1000.0,
        pipeline=pipeline,
    )


def insert(
    offset: int, u: int, v: int, graph: str = "g", partition: int = 0, key: str | None = None
) -> InputRecord:
    value = orjson.dumps({"graph": graph, "op": "insert", "u": u, "v": v, "w": 1.0})
    return InputRecord(
        "in", partition, offset, 999.5, (key or graph).encode(), value, handle=offset
    )


def test_full_batch_is_published_then_acked() -> None:
    log, clock = Log(), Clock()
    proc = make(log, clock)

    async def run() -> None:
        for i in range(6):
            await proc.on_record(insert(10 + i, i, i + 1))

    asyncio.run(run())
    deltas = [orjson.loads(r.value) for r in log.delivered("deltas")]
    assert len(deltas) == 1  # 4 updates closed the batch; 2 wait for their deadline
    assert deltas[0]["batch"] == 0
    assert deltas[0]["source"] == {"partition": 0, "first_offset": 10, "last_offset": 13}
    assert validator("sparsifier-delta").is_valid(deltas[0])
    metrics = orjson.loads(log.delivered("metrics")[0].value)
    assert validator("quality-metrics").is_valid(metrics)
    assert metrics["inserted"] == 4 and metrics["latency_seconds"] == pytest.approx(0.5)
    kinds = [k for k, _ in log.events]
    assert kinds == ["deliver", "deliver", "ack", "ack", "ack", "ack"]
    assert log.acked() == [10, 11, 12, 13]


def test_deadline_closes_a_batch_on_tick() -> None:
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=100)

    async def run() -> None:
        await proc.on_record(insert(0, 1, 2))
        clock.now = 0.5
        await proc.on_tick()
        assert not log.events
        clock.now = 1.0
        await proc.on_tick()

    asyncio.run(run())
    assert len(log.delivered("deltas")) == 1 and log.acked() == [0]


def test_rejections_go_to_the_dlq_and_good_records_flow_around_them() -> None:
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=2, limits=GraphLimits(frozenset({"g", "h"}), max_graphs=1))
    bad = [
        InputRecord("in", 0, 1, 0.0, b"g", b"{nope", handle=1),
        insert(2, 3, 3),  # self-loop
        insert(3, 1, 2, key="other"),
        insert(4, 1, 2, graph="x"),  # not allowed
        insert(5, 1, 2, graph="h"),  # allowed, but the worker holds its one graph already
        insert(6, 1, 2, partition=1),  # graph g lives on partition 0
    ]

    async def run() -> None:
        await proc.on_record(insert(0, 1, 2))
        for record in bad:
            await proc.on_record(record)
        await proc.on_record(insert(7, 2, 3))
        await proc.on_tick()

    asyncio.run(run())
    reasons = [read_dlq_headers(r.headers)["sparsiflow.reason"] for r in log.delivered("dlq")]
    assert reasons == [
        "malformed_json",
        "self_loop",
        "key_mismatch",
        "unknown_graph",
        "too_many_graphs",
        "wrong_partition",
    ]
    assert log.delivered("dlq")[0].value == b"{nope"
    delta = orjson.loads(log.delivered("deltas")[0].value)
    assert delta["source"] == {"partition": 0, "first_offset": 0, "last_offset": 7}
    assert sorted(log.acked()) == list(range(8))
    last_delivery = max(i for i, (k, _) in enumerate(log.events) if k == "deliver")
    assert all(k == "ack" for k, _ in log.events[last_delivery + 1 :])


def test_failed_delivery_acks_nothing_and_stops_the_processor() -> None:
    log, clock = Log(fail=True), Clock()
    proc = make(log, clock, max_size=1)

    async def run() -> None:
        with pytest.raises(ProcessorFailedError):
            await proc.on_record(insert(0, 1, 2))
        with pytest.raises(ProcessorFailedError):
            await proc.on_tick()

    asyncio.run(run())
    assert log.acked() == []


def test_drain_publishes_open_batches_with_contiguous_numbers() -> None:
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=2)

    async def run() -> None:
        for i in range(5):
            await proc.on_record(insert(i, i, i + 1))
        await proc.drain()

    asyncio.run(run())
    batches = [orjson.loads(r.value)["batch"] for r in log.delivered("deltas")]
    assert batches == [0, 1, 2]
    assert log.acked() == [0, 1, 2, 3, 4]


def test_worker_metrics_are_recorded() -> None:
    registry = CollectorRegistry()
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=2, metrics=WorkerMetrics(registry))

    async def run() -> None:
        await proc.on_record(insert(0, 1, 2))
        await proc.on_record(InputRecord("in", 0, 1, 0.0, b"g", b"[]", handle=1))
        await proc.on_record(insert(2, 2, 3))

    asyncio.run(run())
    value = registry.get_sample_value
    assert value("sparsiflow_events_consumed_total") == 3
    assert value("sparsiflow_events_rejected_total", {"reason": "schema"}) == 1
    assert value("sparsiflow_batches_total", {"graph": "g"}) == 1
    assert value("sparsiflow_graph_edges", {"graph": "g"}) == 2
    assert value("sparsiflow_batches_in_flight") == 0


def _kappa_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: Exception | None
) -> tuple[Log, dict[str, float | None]]:
    """Three batches of a path, a kappa check after each (entering with the next batch);
    ``failure``: what the estimator raises (None: the real one). Returns the log and the
    measurement-failure counts by reason."""
    if failure is not None:

        def broken(*_: object) -> None:
            raise failure

        monkeypatch.setattr(KappaEstimator, "update", broken)
    registry, log, clock = CollectorRegistry(), Log(), Clock()
    every_update = EngineConfig(kappa_change=1e-9)
    proc = make(log, clock, max_size=2, metrics=WorkerMetrics(registry), config=every_update)

    async def run() -> None:
        for i in range(6):
            await proc.on_record(insert(i, i, i + 1))

    with caplog.at_level("WARNING", logger="sparsiflow.connector.observability.kappa"):
        asyncio.run(run())
    counts = {
        reason: registry.get_sample_value(
            "sparsiflow_measurement_failures_total", {"measurement": "kappa", "reason": reason}
        )
        for reason in ("error", "numerical_breakdown")
    }
    return log, counts


def test_kappa_is_published_with_the_batch_its_check_enters(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log, counts = _kappa_run(monkeypatch, caplog, None)
    events = [orjson.loads(r.value) for r in log.delivered("metrics")]
    assert [e["kappa"] for e in events] == [None, pytest.approx(1.0), pytest.approx(1.0)]  # H = G
    assert [e["kappa_method"] for e in events] == [None, "lanczos", "lanczos"]
    assert [e["kappa_batch"] for e in events] == [None, 0, 1]
    assert all(e["kappa_seconds"] >= 0 for e in events[1:])
    assert {e["kappa_unavailable"] for e in events} == {None}
    assert counts == {"error": None, "numerical_breakdown": None}
    assert not caplog.records


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (RuntimeError("injected\nfailure"), "error: RuntimeError: injected failure"),
        (MemoryError(), "error: MemoryError"),
    ],
)
@pytest.mark.usefixtures("checks_in_this_process")
def test_a_failed_kappa_estimate_never_stops_the_stream(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    reason: str,
) -> None:
    log, counts = _kappa_run(monkeypatch, caplog, failure)
    deltas = [orjson.loads(r.value) for r in log.delivered("deltas")]
    events = [orjson.loads(r.value) for r in log.delivered("metrics")]
    assert [d["batch"] for d in deltas] == [0, 1, 2]
    assert log.acked() == list(range(6))
    for event in events:
        assert validator("quality-metrics").is_valid(event), event
        assert event["kappa"] is None and event["kappa_method"] is None
    assert [e["kappa_unavailable"] for e in events] == [None, reason, reason]
    assert counts == {"error": 2.0, "numerical_breakdown": None}
    (warning,) = caplog.records  # once per graph, with the reason
    assert "'g'" in warning.getMessage() and reason in warning.getMessage()


@pytest.mark.usefixtures("checks_in_this_process")
def test_an_estimate_the_estimator_declines_is_published_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The estimator's own "not estimated" outcome (here: a LAPACK failure inside it)."""
    from sparsiflow.engine.quality import estimator as kappa

    def no_eigenvalues(*_: object) -> None:
        raise np.linalg.LinAlgError("eigenvalues did not converge")

    monkeypatch.setattr(kappa, "_tridiagonal_eigh", no_eigenvalues)
    log, counts = _kappa_run(monkeypatch, caplog, None)
    events = [orjson.loads(r.value) for r in log.delivered("metrics")]
    expected = "numerical_breakdown: LinAlgError: eigenvalues did not converge"
    assert [e["kappa_unavailable"] for e in events] == [None, expected, expected]
    assert counts == {"error": None, "numerical_breakdown": 2.0}
    assert log.acked() == list(range(6))


def test_a_quiet_graph_settles_with_a_batch_without_updates() -> None:
    """Once a graph's records stop, the tick publishes the finished kappa check as a batch that
    covers no record: the recovered edges bring kappa under the target for the final G."""
    log, clock = Log(), Clock()
    config = EngineConfig(target_kappa=3.0, threshold=1000.0, kappa_change=1e-9)
    proc = make(log, clock, max_size=20, config=config)
    edges = [(i, j) for i in range(8) for j in range(i + 1, 8)]  # K_8: a tree alone has kappa > 3

    async def run() -> None:
        for offset, (u, v) in enumerate(edges):
            await proc.on_record(insert(offset, u, v))
        clock.now = 2.0
        await proc.on_tick()  # the last batch closes by its deadline
        (state,) = list(proc.graphs)
        for _ in range(500):
            if state.engine.settle_due:
                break
            await asyncio.sleep(0.01)
        await proc.on_tick()
        await proc.on_tick()  # nothing more to settle

    asyncio.run(run())
    deltas = [orjson.loads(r.value) for r in log.delivered("deltas")]
    assert [d["batch"] for d in deltas] == [0, 1, 2]
    settle = deltas[-1]
    assert settle["source"]["first_offset"] == len(edges)
    assert settle["source"]["last_offset"] == len(edges) - 1
    assert settle["recovered"] and sorted(settle["recovered"]) == sorted(
        [u, v] for u, v, _ in settle["added"]
    )
    assert validator("sparsifier-delta").is_valid(settle)
    events = [orjson.loads(r.value) for r in log.delivered("metrics")]
    assert events[-1]["kappa_batch"] == 1 and events[-1]["kappa"] <= 3.0
    assert log.acked() == list(range(len(edges)))  # every record, none twice


def test_pipelined_batches_publish_in_order_and_repeats_wait_for_their_delta() -> None:
    """With batches in flight while intake goes on: deltas in batch order, each input and each
    repeat acknowledged only after the delta covering it."""
    log, clock = Log(), Clock()
    proc = make(log, clock, max_size=2, pipeline=2)

    async def run() -> None:
        await proc.on_records([insert(i, i, i + 1) for i in range(10)])  # 5 batches
        again = [insert(o, o, o + 1)._replace(handle=("again", o)) for o in (1, 9)]
        await proc.on_records(again)
        await proc.drain()

    asyncio.run(run())
    deltas = [orjson.loads(r.value) for r in log.delivered("deltas")]
    assert [d["batch"] for d in deltas] == [0, 1, 2, 3, 4]
    assert len({h for h in log.acked()}) == 12
    for i, (kind, item) in enumerate(log.events):
        if kind != "ack":
            continue
        offset = item[1] if isinstance(item, tuple) else item
        published = [
            orjson.loads(r.value)["source"]["last_offset"]  # type: ignore[attr-defined]
            for k, r in log.events[:i]
            if k == "deliver" and r.topic == "deltas"  # type: ignore[attr-defined]
        ]
        assert published and max(published) >= offset, (item, published)


def _stream_of_runs(rng: np.random.Generator) -> list[InputRecord]:
    """Single-update records of graphs g and h in runs of 1-40 of one key: inserts, deletes of
    edges inserted before, reweights; one run holding a self-loop, one a record that is not
    JSON, a tombstone of h between two runs."""
    records: list[InputRecord] = []
    edges: dict[str, list[tuple[int, int]]] = {"g": [], "h": []}
    for run in range(30):
        graph = str(rng.choice(["g", "h"]))
        size = int(rng.integers(1, 41))
        for i in range(size):
            offset, known = len(records), edges[graph]
            roll = rng.random()
            if known and roll < 0.2:
                u, v = known.pop(int(rng.integers(len(known))))
                value = encode_update(graph, int(Op.DELETE), u, v, math.nan)
            elif known and roll < 0.3:
                u, v = known[int(rng.integers(len(known)))]
                value = encode_update(graph, int(Op.REWEIGHT), u, v, float(rng.uniform(1, 3)))
            else:
                u, v = (int(x) for x in rng.choice(60, 2, replace=False))
                known.append((min(u, v), max(u, v)))
                value = encode_update(graph, int(Op.INSERT), u, v, float(rng.uniform(1, 3)))
            if (run, i) == (7, size // 2):
                value = encode_update(graph, int(Op.INSERT), 5, 5, 1.0)  # a self-loop
            if (run, i) == (12, size // 2):
                value = b"{nope"
            records.append(InputRecord("in", 0, offset, 999.5, graph.encode(), value, (), offset))
        if run == 20:
            edges["h"] = []
            records.append(InputRecord("in", 0, len(records), 999.5, b"h", None, (), len(records)))
    return records


def test_records_taken_in_runs_give_what_one_by_one_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Taking a stream in runs (records of one key in one go, cut where a batch fills) gives
    the deltas, dead letters and acknowledgements that taking each record alone gives, in one
    call or one call per record; repeats of taken records too."""
    records = _stream_of_runs(np.random.default_rng(5))
    taken_in_runs: list[int] = []

    def counted(values: Sequence[bytes | None], graph: str, limits: object) -> object:
        updates = decode_run(values, graph, limits)  # type: ignore[arg-type]
        taken_in_runs.append(0 if updates is None else len(updates))
        return updates

    monkeypatch.setattr(processor_module, "decode_run", counted)

    def outputs(calls: str) -> tuple[list[bytes | None], list[bytes | None], list[object]]:
        log, clock = Log(), Clock()
        proc = make(log, clock, max_size=16)

        async def run() -> None:
            again = [r._replace(handle=("again", r.offset)) for r in records[100:140]]
            for part in (records[:300], again, records[300:]):
                if calls == "per record":
                    for record in part:
                        await proc.on_record(record)
                else:
                    await proc.on_records(part)
            await proc.drain()

        asyncio.run(run())
        deltas = [r.value for r in log.delivered("deltas")]
        return deltas, [r.value for r in log.delivered("dlq")], sorted(log.acked(), key=str)

    by_runs = outputs("one call")
    assert sum(taken_in_runs) > len(records) // 2 and 0 in taken_in_runs  # runs and a fallback
    taken_in_runs.clear()
    assert by_runs == outputs("per record")
    monkeypatch.setattr(processor_module, "MIN_RUN", len(records) + 1)
    assert by_runs == outputs("one call")
    assert not taken_in_runs  # no run was made in either
    assert len(by_runs[0]) > 20 and len(by_runs[2]) == len(records) + 40
    assert by_runs[1][1] == b"{nope" and b'"u":5,"v":5' in (by_runs[1][0] or b"")
