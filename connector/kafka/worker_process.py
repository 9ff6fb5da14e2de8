"""A ``sparsiflow worker`` subprocess for the demo, tests and benchmarks: configured through its
environment, stopped gracefully (SIGTERM) or killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WorkerProcess", "first_error", "worker_env"]

_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [^]]*\] \[\d+\] \[(\w+)\]")
"""Start of one log record in the worker's format: ``[date time] [pid] [LEVEL] ...``."""
_FAILURE_LEVELS = {"ERROR", "CRITICAL"}


def first_error(log: str, lines: int = 40) -> str:
    """The first failure in a worker log: its first ERROR or CRITICAL record, or uncaught
    traceback, with the lines under it up to the next record (a long traceback keeps its first
    line and its last ``lines - 1``, which end in the exception); a note when there is none."""
    rows = log.splitlines()
    for i, line in enumerate(rows):
        record = _RECORD.match(line)
        if line.startswith("Traceback (") or (record and record.group(1) in _FAILURE_LEVELS):
            end = next((k for k in range(i + 1, len(rows)) if _RECORD.match(rows[k])), len(rows))
            block = rows[i:end]
            if len(block) > lines:
                block = [block[0], "  ...", *block[-(lines - 1) :]]
            return "\n".join(block)
    return "(no ERROR record or traceback in the worker log)"


def worker_env(bootstrap: str, topics: dict[str, str], group: str, **extra: str) -> dict[str, str]:
    """Environment of a worker: ``topics`` maps input/deltas/metrics/dlq to names; ``extra``
    adds ``SPARSIFLOW_<NAME>`` variables (e.g. ``BATCH_MAX_SIZE="500"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARSIFLOW_")}
    if "SPARSIFLOW_CACHE_DIR" in os.environ:
        env["SPARSIFLOW_CACHE_DIR"] = os.environ["SPARSIFLOW_CACHE_DIR"]
    env |= {
        "SPARSIFLOW_BOOTSTRAP_SERVERS": bootstrap,
        "SPARSIFLOW_GROUP_ID": group,
        "SPARSIFLOW_METRICS_PORT": "0",
        **{f"SPARSIFLOW_{kind.upper()}_TOPIC": name for kind, name in topics.items()},
        **{f"SPARSIFLOW_{k.upper()}": v for k, v in extra.items()},
    }
    return env


@dataclass
class WorkerProcess:
    """``command`` (default ``python -m sparsiflow worker``) with ``env``; its output goes to
    ``log``."""

    env: dict[str, str]
    log: Path
    command: tuple[str, ...] = (sys.executable, "-m", "sparsiflow", "worker")
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait (graceful stop); SIGKILL if it outlives ``timeout``. Exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL now (a crash)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready()`` until true; fail with the log tail if the worker dies or time runs
        out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not self.alive():
                raise AssertionError(f"worker exited while waiting for {what}:\n{self.diagnosis()}")
            time.sleep(0.5)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what}:\n{self.diagnosis()}"
        )

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def diagnosis(self, tail: int = 1500) -> str:
        """What a failure message should show: the log's first ERROR (or CRITICAL) record with
        the traceback under it, then the log's last ``tail`` characters."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return first_error(text) + "\n--- log tail ---\n" + text[-tail:]

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
