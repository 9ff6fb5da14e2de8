"""Operator mistakes end a command in one line (no broker needed here): the broker probe's
decisions on a scripted client and clock, librdkafka's error text shortened, the state folder
and TLS file checks, invalid settings, and ``make kafka-up``'s stdout (only the address)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sparsiflow.connector.cli.main import main
from sparsiflow.connector.kafka import devbroker, probe
from sparsiflow.connector.kafka.preflight import StartError, broker_configs, check_state_dir
from sparsiflow.connector.settings import KafkaSettings

REFUSED = (
    "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
    "(after 0ms in state CONNECT)"
)


class _Error:
    def __init__(self, name: str, text: str) -> None:
        self._name, self._text = name, text

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _scripted_admin(
    clock: _Clock, answers: Iterator[list[_Error] | None], seen: list[dict[str, Any]]
) -> type:
    """An AdminClient whose ``list_topics`` takes its whole timeout and fails with the next
    errors of ``answers`` (None: succeeds at once)."""

    class Admin:
        def __init__(self, config: dict[str, Any]) -> None:
            seen.append(config)
            self._cb = config["error_cb"]
            self._pending: list[_Error] = []

        def list_topics(self, timeout: float) -> object:
            errors = next(answers)
            if errors is None:
                return object()
            clock.now += timeout
            self._pending = errors
            raise RuntimeError("Failed to get metadata: Local: Broker transport failure")

        def poll(self, timeout: float) -> int:
            for error in self._pending:
                self._cb(error)
            self._pending = []
            return 0

    return Admin


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Any:
    import confluent_kafka.admin

    def install(answers: list[list[_Error] | None]) -> tuple[_Clock, list[dict[str, Any]]]:
        clock, seen = _Clock(), []
        admin = _scripted_admin(clock, iter(answers), seen)
        monkeypatch.setattr(confluent_kafka.admin, "AdminClient", admin)
        return clock, seen

    return install


def test_kafka_reason_drops_the_broker_prefix_and_state_suffix() -> None:
    assert probe.kafka_reason(REFUSED) == "Connect to ipv4#127.0.0.1:1 failed: Connection refused"
    resolve = (
        "nosuch.invalid:9092/bootstrap: Failed to resolve 'nosuch.invalid:9092': Name or "
        "service not known (after 1ms in state CONNECT, 3 identical error(s) suppressed)"
    )
    assert probe.kafka_reason(resolve).startswith("Failed to resolve 'nosuch.invalid:9092'")
    assert probe.kafka_reason(RuntimeError("plain\n text")) == "plain text"


def test_an_answering_broker_passes_at_once_with_librdkafka_logging_silenced(
    scripted: Any,
) -> None:
    clock, seen = scripted([None])
    probe.check_broker({"bootstrap.servers": "h:9092", "client.id": "x"}, clock=clock)
    assert clock.now == 0
    (config,) = seen
    assert config["bootstrap.servers"] == "h:9092" and config["client.id"] == "x"
    assert config["logger"].disabled  # librdkafka's %3|...|FAIL| lines go nowhere


def test_a_refused_address_fails_a_grace_period_after_every_broker_is_down(
    scripted: Any,
) -> None:
    down = [_Error("_TRANSPORT", REFUSED), _Error("_ALL_BROKERS_DOWN", "1/1 brokers are down")]
    clock, _ = scripted([down] + [[_Error("_TRANSPORT", REFUSED)]] * 20)
    with pytest.raises(probe.BrokerUnreachable) as caught:
        probe.check_broker({"bootstrap.servers": "127.0.0.1:1"}, timeout=10, grace=3, clock=clock)
    assert str(caught.value) == (
        "cannot reach the Kafka broker at 127.0.0.1:1: Connect to ipv4#127.0.0.1:1 failed: "
        "Connection refused"
    )
    assert clock.now == 3.5  # down seen after the first 0.5 s attempt, then 3 s of grace


def test_a_broker_that_comes_up_within_the_grace_period_passes(scripted: Any) -> None:
    down = [_Error("_TRANSPORT", REFUSED), _Error("_ALL_BROKERS_DOWN", "1/1 brokers are down")]
    clock, _ = scripted([down, [], None])
    probe.check_broker({"bootstrap.servers": "127.0.0.1:1"}, clock=clock)
    assert clock.now == 1.0


def test_silence_fails_at_the_timeout_and_says_so(scripted: Any) -> None:
    clock, _ = scripted([[]] * 20)
    with pytest.raises(probe.BrokerUnreachable, match=r"at h:9092 \(SSL\): no answer within 5 s"):
        probe.check_broker(
            {"bootstrap.servers": "h:9092", "security.protocol": "ssl"}, timeout=5, clock=clock
        )
    assert clock.now == 5.0


def test_an_authentication_failure_fails_at_once(scripted: Any) -> None:
    failed = _Error("_AUTHENTICATION", "sasl://h:9092/bootstrap: SASL authentication error: bad")
    clock, _ = scripted([[failed]])
    with pytest.raises(probe.BrokerUnreachable, match=r"SASL authentication error: bad$"):
        probe.check_broker({"bootstrap.servers": "h:9092"}, clock=clock)
    assert clock.now == 0.5


def test_the_state_dir_is_created_and_checked(tmp_path: Path) -> None:
    check_state_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(StartError) as caught:
        check_state_dir(tmp_path / "file" / "state")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"state dir {tmp_path / 'file' / 'state'} (SPARSIFLOW_STATE_DIR")
    assert message.endswith("cannot be used: Not a directory")


def test_missing_or_broken_tls_files_are_named_before_any_connection(tmp_path: Path) -> None:
    missing = KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(StartError, match=rf"SPARSIFLOW_SSL_CAFILE={tmp_path}/ca.pem .*no such"):
        broker_configs(missing)
    (tmp_path / "ca.pem").write_text("not a certificate")
    broken = KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(StartError, match=r"TLS files \(SPARSIFLOW_SSL_\*\) cannot be loaded"):
        broker_configs(broken)


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (
            {"SPARSIFLOW_BATCH_MAX_SIZE": "0"},
            ["worker"],
            "Error: invalid settings: SPARSIFLOW_BATCH_MAX_SIZE: Input should be greater than "
            "or equal to 1",
        ),
        (
            {"SPARSIFLOW_SECURITY_PROTOCOL": "SASL_SSL"},
            ["materialize", "--graph-id", "g", "--out", "h.mtx"],
            "Error: invalid settings: SASL_SSL needs sasl_username and sasl_password",
        ),
        (
            {"SPARSIFLOW_SECURITY_PROTOCOL": "SSL", "SPARSIFLOW_SSL_CAFILE": "/nonexistent/ca"},
            ["produce", "--graph-id", "g", "--graph", "GRAPH"],
            "Error: TLS file SPARSIFLOW_SSL_CAFILE=/nonexistent/ca cannot be read: no such file",
        ),
    ],
)
def test_commands_report_setting_mistakes_in_one_line(
    env: dict[str, str], args: list[str], expected: str, tmp_path: Path
) -> None:
    graph = tmp_path / "g.mtx"  # produce reads its input before it connects
    graph.write_text("%%MatrixMarket matrix coordinate real symmetric\n2 2 1\n2 1 1.0\n")
    args = [str(graph) if arg == "GRAPH" else arg for arg in args]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [expected]


def test_kafka_up_prints_only_the_address_when_the_broker_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPARSIFLOW_CACHE_DIR", str(tmp_path))
    state = tmp_path / "devbroker"
    state.mkdir()
    (state / "broker.pid").write_text(str(os.getpid()))  # a live process
    (state / "bootstrap").write_text("127.0.0.1:40000\n")
    assert devbroker.main(["up"]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ("127.0.0.1:40000\n", "")
    assert "broker already running" in (state / "logs" / "devbroker.log").read_text()
