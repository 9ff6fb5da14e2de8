"""The connector's commands parse their flags into settings (no broker needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sparsiflow.connector.cli.main import main
from sparsiflow.connector.cli.options import kafka_overrides
from sparsiflow.connector.settings import Settings


@pytest.mark.parametrize("name", ["worker", "produce", "materialize", "demo"])
def test_help_names_the_environment_variables(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    if name != "demo":
        for env in (
            "SPARSIFLOW_BOOTSTRAP_SERVERS",
            "SPARSIFLOW_INPUT_TOPIC",
            "SPARSIFLOW_DLQ_TOPIC",
        ):
            assert env in result.output.replace("\n", " ").replace("  ", "")


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARSIFLOW_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("SPARSIFLOW_DELTAS_TOPIC", "env.deltas")
    params = {
        "bootstrap_servers": "flag:9092",
        "input_topic": None,
        "deltas_topic": None,
        "metrics_topic": "flag.metrics",
        "dlq_topic": None,
        "other": 1,
    }
    settings = Settings.load(**kafka_overrides(params))
    assert params == {"other": 1}  # the Kafka flags were taken out
    assert settings.kafka.bootstrap_servers == "flag:9092"
    assert settings.topics.deltas_topic == "env.deltas"
    assert settings.topics.metrics_topic == "flag.metrics"
    assert settings.topics.input_topic == "sparsiflow.edge-updates"
    with pytest.raises(TypeError):
        Settings.load(nonsense={})


def test_produce_refuses_a_bad_graph_id_and_missing_inputs() -> None:
    runner = CliRunner()
    assert (
        runner.invoke(main, ["produce", "--graph-id", "a/b", "--records", "single"]).exit_code == 2
    )
    result = runner.invoke(main, ["produce", "--graph-id", "ok"])
    assert result.exit_code == 2 and "--graph and/or --updates" in result.output
