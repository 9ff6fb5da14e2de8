"""Command-line options whose defaults and choices come from the one place that owns them.

- Flags that override a setting (:func:`setting_option`, :func:`kafka_options`): each flag wins
  over its ``SPARSIFLOW_*`` environment variable, which wins over the settings class default;
  the help text names both, read from the settings class when help is shown (importing the
  settings module costs most of a second, too much for every ``sparsiflow`` call).
- Engine flags of the offline commands (:func:`engine_options`): defaults from
  :class:`~sparsiflow.engine.config.EngineConfig`, choices from its ``MODES`` and ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from sparsiflow.engine.config import BACKENDS, MODES, EngineConfig

__all__ = [
    "SettingOption",
    "TargetKappa",
    "engine_options",
    "kafka_options",
    "kafka_overrides",
    "mode_option",
    "setting_option",
]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULTS = EngineConfig()
_KAFKA = (
    ("--bootstrap-servers", "KafkaSettings.bootstrap_servers", "broker addresses"),
    ("--input-topic", "TopicSettings.input_topic", "edge-update topic"),
    ("--deltas-topic", "TopicSettings.deltas_topic", "delta topic"),
    ("--metrics-topic", "TopicSettings.metrics_topic", "metrics topic"),
    ("--dlq-topic", "TopicSettings.dlq_topic", "dead-letter topic"),
    ("--edges-topic", "TopicSettings.edges_topic", "compacted current-H topic, '' for none"),
)


class TargetKappa(click.ParamType):
    """A kappa target: a number > 1, or ``off``. Offline commands read ``off`` as None; the
    worker's flag keeps the word, for the settings to read like the environment's value."""

    name = "kappa|off"

    def __init__(self, keep_off: bool = False) -> None:
        self._keep_off = keep_off

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        if str(value).strip().lower() == "off":
            return "off" if self._keep_off else None
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'off'", param, ctx)
        if not number > 1:
            self.fail(f"a kappa target must be > 1, got {value}", param, ctx)
        return number


class SettingOption(click.Option):
    """A flag overriding the setting ``Class.field`` of :mod:`sparsiflow.connector.settings`
    (unset: None, so the environment or the class default applies)."""

    def __init__(self, *args: Any, setting: str, **kwargs: Any) -> None:
        super().__init__(*args, default=None, **kwargs)
        self.setting = setting

    def setting_source(self) -> tuple[str, Any]:
        """The setting's environment variable and its default."""
        from sparsiflow.connector import settings

        owner, field = self.setting.split(".")
        cls = getattr(settings, owner)
        return cls.model_config["env_prefix"] + field.upper(), cls.model_fields[field].default

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        env, default = self.setting_source()
        shown = "none" if default is None else default
        self.help = f"{self.help or ''} [env {env}; default {shown}]".strip()
        record = super().get_help_record(ctx)
        self.help = self.help.rpartition(" [env ")[0] or None
        return record


def setting_option(flag: str, setting: str, text: str, **kwargs: Any) -> Callable[[F], F]:
    """A flag overriding ``setting`` (``"WorkerSettings.group_id"``), described by ``text``."""
    return click.option(flag, cls=SettingOption, setting=setting, help=text, **kwargs)


def kafka_options(command: F) -> F:
    """Add ``--bootstrap-servers`` and the five topic flags to a click command."""
    for flag, setting, text in reversed(_KAFKA):
        command = setting_option(flag, setting, text)(command)
    return command


def kafka_overrides(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``Settings.load`` overrides from the parsed flags of :func:`kafka_options`."""
    return {
        "kafka": {"bootstrap_servers": params.pop("bootstrap_servers")},
        "topics": {
            name: params.pop(name)
            for name in ("input_topic", "deltas_topic", "metrics_topic", "dlq_topic", "edges_topic")
        },
    }


def mode_option(command: F) -> F:
    """``--mode``, default and choices from the engine configuration."""
    return click.option(
        "--mode", type=click.Choice(MODES), default=_DEFAULTS.mode, show_default=True
    )(command)


_ENGINE_FLAGS: tuple[tuple[str, Any, str | None], ...] = (
    ("--target-kappa", TargetKappa(), "Hold kappa under this; 'off' to measure only."),
    (
        "--kappa-change",
        click.FloatRange(0, 1),
        "Check kappa after this share of G's edges was updated (0: no checks).",
    ),
    ("--control-rounds", click.IntRange(1), "Most recovery rounds per check."),
    ("--threshold", click.FloatRange(0, min_open=True), "Local rule's K [default: target / 4]."),
    ("--walkers", click.IntRange(1), None),
    ("--max-steps", click.IntRange(1), None),
    (
        "--threads",
        click.IntRange(1),
        "Threads for the batch phases that only read H (results do not depend on it).",
    ),
    ("--seed", int, None),
    ("--backend", click.Choice(BACKENDS), None),
)


def engine_options(command: F) -> F:
    """The engine flags of an offline run, each defaulting to :class:`EngineConfig`'s value."""
    for flag, kind, text in reversed(_ENGINE_FLAGS):
        default = getattr(_DEFAULTS, flag[2:].replace("-", "_"))
        command = click.option(
            flag, type=kind, default=default, show_default=default is not None, help=text
        )(command)
    return mode_option(command)
