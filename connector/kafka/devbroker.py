"""A real single-node Apache Kafka broker (KRaft) for development, tests and the demo.

The broker jars are resolved from Maven Central with ``mvn`` into a cache folder, KRaft storage is
formatted with Kafka's own ``StorageTool`` and the broker runs as ``java ... kafka.Kafka`` on free
loopback ports. Nothing here imitates Kafka: it is the Apache Kafka server itself.

Command line (used by ``make kafka-up`` / ``make kafka-down``)::

    python -m sparsiflow.connector.kafka.devbroker up    # prints only the bootstrap address
    python -m sparsiflow.connector.kafka.devbroker down
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sparsiflow.engine.kernel_cache import project_cache_dir

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "LocalKafka",
    "cache_dir",
    "ensure_broker_jars",
    "wait_for_broker",
]

KAFKA_VERSION = "4.1.1"
_LOG4J_VERSION = "2.25.3"
_SLF4J_VERSION = "2.0.17"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.11.0"

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.sparsiflow</groupId>
  <artifactId>devbroker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{_LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{_SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
"""


class BrokerError(RuntimeError):
    """The local broker could not be resolved, started or reached."""


def cache_dir() -> Path:
    """Folder for downloaded jars and broker state: the project cache, ``$SPARSIFLOW_CACHE_DIR``
    or the XDG cache's ``sparsiflow`` (the compiled kernels live there too)."""
    return project_cache_dir()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_broker_jars(root: Path | None = None) -> Path:
    """Return the folder holding the Kafka broker's runtime jars, resolving them once with Maven."""
    root = root or cache_dir()
    libs = root / f"kafka-{KAFKA_VERSION}" / "libs"
    with _file_lock(root / f"kafka-{KAFKA_VERSION}.lock"):
        if libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven ('mvn') is not on PATH; it is needed to fetch the Kafka jars")
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_text(_POM)
            staged = Path(tmp) / "libs"
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staged}",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-4000:]
                raise BrokerError(f"mvn could not resolve Apache Kafka {KAFKA_VERSION}:\n{tail}")
            libs.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(libs)
    return libs


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise BrokerError("Java 17+ ('java') is not on PATH; the Kafka broker needs it")
    return found


def wait_for_broker(bootstrap: str, timeout: float) -> None:
    """Block until an AdminClient lists topics on ``bootstrap`` (raises BrokerError on timeout).
    librdkafka's connection-refused lines while the broker boots are dropped."""
    from confluent_kafka.admin import AdminClient

    from sparsiflow.connector.kafka.probe import quiet

    admin = AdminClient(quiet({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000}))
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except Exception as exc:  # broker not up yet: keep polling until the deadline
            last = exc
            time.sleep(0.2)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout:.0f}s: {last}")


@dataclass
class LocalKafka:
    """One single-node KRaft broker on free loopback ports, with its data under ``workdir``."""

    workdir: Path
    port: int = field(default_factory=_free_port)
    controller_port: int = field(default_factory=_free_port)
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "server.log"

    def _properties(self) -> Path:
        path = self.workdir / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.workdir / 'data'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=4",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "message.max.bytes=16777216",
                    "log.cleaner.backoff.ms=1000",  # compaction runs within seconds (tests)
                    "",
                ]
            )
        )
        return path

    def _java_cmd(self, libs: Path, *args: str) -> list[str]:
        logs = self.workdir / "logs"
        return [
            _java(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def start(self, timeout: float = 90.0, detach: bool = False) -> str:
        """Format storage, start the broker and wait until it answers; return the bootstrap."""
        libs = ensure_broker_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        (self.workdir / "log4j2.properties").write_text(_LOG4J2)
        props = self._properties()
        fmt = self._java_cmd(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            str(uuid.uuid4()),
            "-c",
            str(props),
        )
        done = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"kafka StorageTool format failed:\n{done.stdout}{done.stderr}")
        out = (self.workdir / "logs" / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            self._java_cmd(libs, "kafka.Kafka", str(props)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
        out.close()
        try:
            self._wait_ready(timeout)
        except BrokerError:
            self.stop()
            raise
        return self.bootstrap

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(
                    f"broker exited with {self.process.returncode}; see {self.log_file}"
                )
            with contextlib.suppress(BrokerError):
                wait_for_broker(self.bootstrap, timeout=2.0)
                return
        raise BrokerError(f"broker did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM for a clean shutdown, SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _state_dir() -> Path:
    return cache_dir() / "devbroker"


def _up() -> int:
    state = _state_dir()
    pidfile, addrfile = state / "broker.pid", state / "bootstrap"
    if pidfile.exists() and _alive(int(pidfile.read_text())):
        _note(state, f"broker already running (pid {pidfile.read_text().strip()})")
        print(addrfile.read_text().strip())
        return 0
    shutil.rmtree(state, ignore_errors=True)
    started = time.monotonic()
    broker = LocalKafka(workdir=state)
    bootstrap = broker.start(detach=True)
    assert broker.process is not None
    pidfile.write_text(str(broker.process.pid))
    addrfile.write_text(bootstrap)
    _note(
        state,
        f"Apache Kafka {KAFKA_VERSION} (KRaft) ready at {bootstrap} in "
        f"{time.monotonic() - started:.1f}s (pid {broker.process.pid})",
    )
    print(bootstrap)
    return 0


def _note(state: Path, line: str) -> None:
    """Append a status line of ``up`` to the broker's log folder (``up`` prints only the
    address, for ``$(make kafka-up)``; errors still go to stderr)."""
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "devbroker.log").open("a") as out:
        out.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _down() -> int:
    pidfile = _state_dir() / "broker.pid"
    if not pidfile.exists():
        print("no local broker is running", file=sys.stderr)
        return 0
    pid = int(pidfile.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(_state_dir(), ignore_errors=True)
    print("local broker stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``up`` starts a detached broker and prints its bootstrap; ``down`` stops it."""
    args = sys.argv[1:] if argv is None else argv
    commands = {"up": _up, "down": _down}
    if len(args) != 1 or args[0] not in commands:
        print("usage: python -m sparsiflow.connector.kafka.devbroker up|down", file=sys.stderr)
        return 2
    try:
        return commands[args[0]]()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
