"""The worker's ready and progress lines (injected clock and counts), the counts read from a real
metrics registry, and the log set-up: libraries quiet at INFO, no escape codes off a terminal."""

from __future__ import annotations

import io
import logging
import logging.config
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sparsiflow.connector.observability.logs import library_level, logging_config
from sparsiflow.connector.observability.metrics import WorkerMetrics
from sparsiflow.connector.observability.progress import (
    PROGRESS_SECONDS,
    ProgressLog,
    Totals,
    read_totals,
)
from sparsiflow.engine.results import BatchReport, Delta, GraphStats

OUTPUTS = {"deltas": "d", "metrics": "m", "dlq": "q", "current-H": ""}


class _Fake:
    """A clock and counts the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.totals = Totals(graphs=0)

    def clock(self) -> float:
        return self.now

    def read(self) -> Totals:
        return self.totals


@pytest.fixture
def fake() -> _Fake:
    return _Fake()


def _progress(fake: _Fake, caplog: pytest.LogCaptureFixture, every: float = 30.0) -> ProgressLog:
    caplog.set_level(logging.INFO, logger="sparsiflow.worker")
    return ProgressLog("grp", "in", OUTPUTS, fake.read, every=every, clock=fake.clock)


def test_the_ready_line_names_group_topics_and_partitions(
    fake: _Fake, caplog: pytest.LogCaptureFixture
) -> None:
    progress = _progress(fake, caplog)
    line = progress.ready({2, 0})
    assert line == "ready: group grp, input in partitions 0, 2; outputs deltas d, metrics m, dlq q"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.INFO, line)]
    assert "no partition of input in assigned" in progress.ready(set())


def test_progress_is_logged_once_per_interval_and_only_after_activity(
    fake: _Fake, caplog: pytest.LogCaptureFixture
) -> None:
    progress = _progress(fake, caplog)
    fake.totals = Totals(consumed=10, updates=900, batches=2, rejected=1, graphs=3)
    fake.now += 29.9
    assert progress.tick() is None  # not yet an interval
    fake.now += 0.1
    line = progress.tick()
    assert line == (
        "progress in the last 30 s: 10 records consumed, 900 updates applied, 2 batches "
        "published, 1 rejected; 3 graph(s) held (since start: 10 records, 900 updates, 2 "
        "batches, 1 rejected)"
    )
    fake.now += 10
    assert progress.tick() is None  # the next interval has not passed
    fake.now += 60
    assert progress.tick() is None  # idle: nothing moved, nothing logged
    fake.totals = Totals(consumed=15, updates=1000, batches=3, rejected=1, graphs=3)
    fake.now += 30
    line = progress.tick()
    assert line is not None and line.startswith(
        "progress in the last 30 s: 5 records consumed, 100 updates applied, 1 batches published"
    )
    assert [r.getMessage()[:26] for r in caplog.records] == ["progress in the last 30 s:"] * 2


def test_a_gauge_change_alone_is_no_activity(fake: _Fake, caplog: pytest.LogCaptureFixture) -> None:
    progress = _progress(fake, caplog)
    fake.totals = Totals(graphs=5)
    fake.now += 31
    assert progress.tick() is None


def test_the_default_interval_and_its_check(fake: _Fake) -> None:
    assert ProgressLog("g", "i", {}, fake.read, clock=fake.clock).every == PROGRESS_SECONDS == 30
    with pytest.raises(ValueError, match="> 0"):
        ProgressLog("g", "i", {}, fake.read, every=0)


def test_totals_are_read_from_the_worker_metrics() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    assert read_totals(registry).activity() == (0, 0, 0, 0)
    metrics.record_consumed(7)
    metrics.record_rejected("too_large")
    stats = GraphStats(nodes=4, edges_graph=4, edges_sparsifier=3, components=1)
    report = BatchReport(batch=0, delta=Delta(), stats=stats, inserted=5, deleted=1)
    for graph in ("a", "b"):
        metrics.record_batch(
            graph, report, updates=6, event_to_delta_seconds=0.1, publish_seconds=0.01
        )
    totals = read_totals(registry)
    assert (totals.consumed, totals.updates, totals.batches, totals.rejected) == (7, 12, 2, 1)


@pytest.mark.parametrize(
    ("level", "libraries"),
    [("debug", "DEBUG"), ("info", "WARNING"), ("warning", "WARNING"), ("error", "ERROR")],
)
def test_libraries_log_warnings_unless_debug(level: str, libraries: str) -> None:
    assert library_level(level) == libraries
    config = logging_config(level)
    assert config["merge"] is True
    assert {name: c["level"] for name, c in config["loggers"].items()} == dict.fromkeys(
        ("faust", "mode", "aiokafka", "kafka"), libraries
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _formatted(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> str:
    """A record formatted as the worker's log formats it when the log goes to ``stream``."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    spec: dict[str, Any] = dict(logging_config("info", stream)["formatters"]["colored"])
    formatter = logging.config.DictConfigurator({}).configure_formatter(spec)
    record = logging.LogRecord("sparsiflow.worker", logging.ERROR, __file__, 1, "boom", (), None)
    return formatter.format(record)


def test_no_escape_codes_when_the_log_stream_is_no_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "\x1b[" not in _formatted(io.StringIO(), monkeypatch)
    assert "\x1b[" in _formatted(_Terminal(), monkeypatch)  # the switch is the stream
