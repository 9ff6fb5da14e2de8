"""Operator mistakes on the real broker end a command at once, in one line, without traceback or
librdkafka noise: a Kafka-facing command pointed at an address where no broker listens, and a
worker given a state folder it cannot use. And the worker's own log by default: a ready line,
progress lines, no terminal escape codes when its log is no terminal."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from sparsiflow.connector.kafka.produce import produce
from sparsiflow.connector.kafka.worker_process import worker_env
from sparsiflow.engine.graph.updates import UpdateBatch

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connection refused
LIMIT = 15.0  # seconds an operator may wait for the verdict
CLI = (sys.executable, "-m", "sparsiflow")
GRAPH = "%%MatrixMarket matrix coordinate real symmetric\n3 3 2\n2 1 1.0\n3 2 1.0\n"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARSIFLOW_")}
    if "SPARSIFLOW_CACHE_DIR" in os.environ:
        env["SPARSIFLOW_CACHE_DIR"] = os.environ["SPARSIFLOW_CACHE_DIR"]
    return env | {"SPARSIFLOW_METRICS_PORT": "0"} | extra


def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float]:
    start = time.monotonic()
    done = subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


def _assert_one_line(stderr: str, *fragments: str) -> str:
    assert "Traceback" not in stderr and "%3|" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["materialize", "--graph-id", "g1", "--out", "h.mtx"],
        ["produce", "--graph-id", "g1", "--graph", "g.mtx"],
        ["worker"],
    ],
    ids=lambda args: args[0],
)
def test_an_unreachable_broker_fails_within_seconds_in_one_line(
    args: list[str], tmp_path: Path
) -> None:
    (tmp_path / "g.mtx").write_text(GRAPH)
    status, out, err, seconds = _run([*args, "--bootstrap-servers", UNREACHABLE], _env(), tmp_path)
    assert status != 0
    assert seconds < LIMIT, f"{args[0]} took {seconds:.1f} s to fail"
    line = _assert_one_line(err, UNREACHABLE, "Connection refused")
    assert line.startswith("Error: cannot reach the Kafka broker at 127.0.0.1:1: ")
    assert out == ""
    assert not (tmp_path / "h.mtx").exists()


def test_an_unusable_state_dir_stops_the_worker_at_start_in_one_line(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a folder")
    state = tmp_path / "file" / "state"  # cannot be created, even by root
    topics = {kind: unique_name(kind) for kind in ("input", "deltas", "metrics", "dlq", "edges")}
    env = worker_env(kafka_bootstrap, topics, unique_name("group"), state_dir=str(state))
    status, out, err, seconds = _run(["worker"], env | {"SPARSIFLOW_METRICS_PORT": "0"}, tmp_path)
    assert status != 0
    assert seconds < LIMIT
    _assert_one_line(err, f"state dir {state}", "SPARSIFLOW_STATE_DIR", "Not a directory")
    assert out == ""
    listed = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert topics["input"] not in listed, "the check comes before anything is created"


def test_the_default_log_has_the_ready_and_progress_lines_and_no_escape_codes(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    """stdout on a terminal, the log (stderr) in a file: the case mode used to colour."""
    topics = {kind: unique_name(kind) for kind in ("input", "deltas", "metrics", "dlq", "edges")}
    group = unique_name("group")
    env = worker_env(kafka_bootstrap, topics, group, topic_partitions="2")
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    fast = (  # progress every 2 s instead of 30 for the test; otherwise the CLI as shipped
        "import sparsiflow.connector.observability.progress as p; p.PROGRESS_SECONDS = 2.0; "
        "from sparsiflow.connector.cli.main import main; main(['worker'])"
    )
    log = tmp_path / "worker.log"
    terminal, tty = pty.openpty()
    with log.open("w") as err:
        worker = subprocess.Popen([sys.executable, "-c", fast], env=env, stdout=tty, stderr=err)
    os.close(tty)
    try:
        _wait_for(log, "ready: ", worker, 120)
        updates = UpdateBatch.inserts([0, 1, 2], [1, 2, 0], [1.0, 1.0, 1.0])
        produce({"bootstrap.servers": kafka_bootstrap}, topics["input"], "g1", updates)
        _wait_for(log, "progress in the last", worker, 60)
    finally:
        worker.send_signal(signal.SIGTERM)
        status = worker.wait(60)
        os.close(terminal)
    text = log.read_text()
    assert status == 0, text[-3000:]
    assert "\x1b[" not in text and "\x1b(" not in text, "escape codes in a log that is a file"
    ready = next(line for line in text.splitlines() if "ready: " in line)
    assert "[INFO]" in ready
    assert f"group {group}, input {topics['input']} partitions 0, 1;" in ready
    assert f"deltas {topics['deltas']}" in ready
    progress = next(line for line in text.splitlines() if "progress in the last" in line)
    assert "1 records consumed, 3 updates applied" in progress, progress
    assert "Starting..." not in text, "Faust's INFO lines stay out of the default log"


def _wait_for(log: Path, text: str, worker: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert worker.poll() is None, f"worker exited:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"no {text!r} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
