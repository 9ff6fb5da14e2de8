"""Operator mistakes as one-line command errors (``Error: ...``, exit status 1) instead of
tracebacks: invalid settings, an unreachable broker or unreadable TLS files, a Kafka error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sparsiflow.connector.settings import ClientConfigs, Settings

__all__ = ["kafka_clients", "kafka_error", "load_settings", "settings_error"]


def load_settings(**overrides: dict[str, Any]) -> Settings:
    """``Settings.load(**overrides)``; invalid values end the command with one line naming
    each setting's environment variable (values are not shown: some are secrets)."""
    from pydantic import ValidationError

    from sparsiflow.connector.settings import Settings

    try:
        return Settings.load(**overrides)
    except ValidationError as exc:
        raise click.ClickException(settings_error(exc)) from None


def settings_error(exc: Any) -> str:
    """One line for a pydantic ``ValidationError`` of a settings class."""
    from sparsiflow.connector import settings

    cls = getattr(settings, str(exc.title), None)
    prefix = cls.model_config.get("env_prefix", "") if cls is not None else ""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{prefix}{field.upper()}: {message}" if field else message)
    return "invalid settings: " + "; ".join(" ".join(part.split()) for part in parts)


def kafka_clients(settings: Settings) -> ClientConfigs:
    """The client configurations of ``settings`` once the TLS files load and a broker answers
    (within seconds); else the command ends with one line naming the address and the reason."""
    from sparsiflow.connector.kafka.preflight import StartError, broker_configs

    try:
        return broker_configs(settings.kafka)
    except StartError as exc:
        raise click.ClickException(str(exc)) from None


def kafka_error(exc: BaseException, bootstrap: str) -> click.ClickException:
    """A Kafka client's failure after the broker answered, as one line."""
    from sparsiflow.connector.kafka.probe import kafka_reason

    return click.ClickException(f"Kafka at {bootstrap}: {kafka_reason(exc)}")
