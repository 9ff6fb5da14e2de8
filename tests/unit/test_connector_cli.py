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
        "edges_topic": "",
        "other": 1,
    }
    settings = Settings.load(**kafka_overrides(params))
    assert params == {"other": 1}  # the Kafka flags were taken out
    assert settings.kafka.bootstrap_servers == "flag:9092"
    assert settings.topics.deltas_topic == "env.deltas"
    assert settings.topics.metrics_topic == "flag.metrics"
    assert settings.topics.input_topic == "sparsiflow.edge-updates"
    assert settings.topics.edges_topic == ""  # the flag's empty value turns the topic off
    with pytest.raises(TypeError):
        Settings.load(nonsense={})


def test_produce_refuses_a_bad_graph_id_and_missing_inputs() -> None:
    runner = CliRunner()
    assert (
        runner.invoke(main, ["produce", "--graph-id", "a/b", "--records", "single"]).exit_code == 2
    )
    result = runner.invoke(main, ["produce", "--graph-id", "ok"])
    assert result.exit_code == 2 and "--graph and/or --updates" in result.output


def test_every_setting_flag_shows_the_settings_default_and_variable() -> None:
    """Defaults live in the settings classes only: each flag's help is read from them."""
    import click

    from sparsiflow.connector import settings
    from sparsiflow.connector.cli.options import SettingOption

    seen = 0
    for name, command in main.commands.items():
        for param in command.params:
            if not isinstance(param, SettingOption):
                continue
            owner, field = param.setting.split(".")
            cls = getattr(settings, owner)
            env = cls.model_config["env_prefix"] + field.upper()
            default = cls.model_fields[field].default
            ctx = click.Context(command, info_name=name)
            record = param.get_help_record(ctx)
            assert record is not None
            shown = "none" if default is None else default
            assert record[1].endswith(f"[env {env}; default {shown}]"), (name, record)
            assert param.default is None  # unset flags leave the environment in charge
            seen += 1
    assert seen >= 20


def test_offline_engine_flags_default_to_the_engine_configuration() -> None:
    from sparsiflow.engine.config import BACKENDS, MODES, EngineConfig

    defaults = EngineConfig()
    replay = {p.name: p for p in main.commands["replay"].params}
    for field in ("mode", "threshold", "walkers", "max_steps", "target_kappa", "kappa_change",
                  "control_rounds", "threads", "seed", "backend"):  # fmt: skip
        assert replay[field].default == getattr(defaults, field), field
    assert tuple(replay["mode"].type.choices) == MODES  # type: ignore[attr-defined]
    assert tuple(replay["backend"].type.choices) == BACKENDS  # type: ignore[attr-defined]


def test_every_worker_setting_has_a_flag_but_the_secrets() -> None:
    from sparsiflow.connector import settings
    from sparsiflow.connector.cli.options import SettingOption

    flags = {p.setting for p in main.commands["worker"].params if isinstance(p, SettingOption)}
    every = {
        f"{cls.__name__}.{name}"
        for cls in (settings.KafkaSettings, settings.TopicSettings, settings.BatchSettings,
                    settings.CheckpointSettings, settings.RecordLimitSettings,
                    settings.EngineSettings, settings.WorkerSettings)
        for name in cls.model_fields
    }  # fmt: skip
    secrets = {"KafkaSettings.sasl_password", "KafkaSettings.ssl_key_password"}
    assert flags == every - secrets
    text = CliRunner().invoke(main, ["worker", "--help"]).output.replace("\n", " ")
    for flag in ("--target-kappa", "--kappa-change", "--control-rounds", "--threads"):
        assert flag in text


def test_the_kappa_target_turns_off_by_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARSIFLOW_ENGINE_TARGET_KAPPA", "off")
    assert Settings.load().engine.config().target_kappa is None
    monkeypatch.setenv("SPARSIFLOW_ENGINE_TARGET_KAPPA", "40")
    assert Settings.load().engine.config().target_kappa == 40.0
    assert Settings.load(engine={"target_kappa": "off"}).engine.target_kappa is None
    monkeypatch.delenv("SPARSIFLOW_ENGINE_TARGET_KAPPA")
    config = Settings.load().engine.config()
    assert config.target_kappa == 100.0 and config.local_threshold == 25.0
    bad = CliRunner().invoke(main, ["worker", "--target-kappa", "0.5"])
    assert bad.exit_code == 2 and "must be > 1" in bad.output
