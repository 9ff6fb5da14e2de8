"""Checks made before a Kafka-facing command (the worker, produce, materialize) starts, so
that an operator's mistake ends it at once with one line instead of a traceback after half a
minute: the state folder can be created and written, the TLS files can be read, and the broker
answers (:mod:`sparsiflow.connector.kafka.probe`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sparsiflow.connector.settings import ClientConfigs, KafkaSettings, Settings

__all__ = ["StartError", "broker_configs", "check_state_dir", "preflight"]


class StartError(RuntimeError):
    """Why a command cannot start, in one line."""


def check_state_dir(path: Path) -> None:
    """Create ``path`` (and its parents) when missing and check that a file can be written
    there; :class:`StartError` naming the folder and the reason otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".sparsiflow-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise StartError(
            f"state dir {path} (SPARSIFLOW_STATE_DIR, --state-dir) cannot be used: {reason}{where}"
        ) from None


def broker_configs(kafka: KafkaSettings) -> ClientConfigs:
    """The client configurations of ``kafka`` once its TLS files load and a broker answers;
    :class:`StartError` otherwise."""
    from sparsiflow.connector.kafka.probe import BrokerUnreachable, check_broker
    from sparsiflow.connector.settings import client_configs

    files = (
        ("SPARSIFLOW_SSL_CAFILE", kafka.ssl_cafile),
        ("SPARSIFLOW_SSL_CERTFILE", kafka.ssl_certfile),
        ("SPARSIFLOW_SSL_KEYFILE", kafka.ssl_keyfile),
    )
    for env, path in files if kafka.uses_ssl else ():
        if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            missing = "no such file" if not path.exists() else "not a readable file"
            raise StartError(f"TLS file {env}={path} cannot be read: {missing}")
    try:
        configs = client_configs(kafka)
    except OSError as exc:  # ssl.SSLError: a file that is no PEM certificate or key
        raise StartError(f"TLS files (SPARSIFLOW_SSL_*) cannot be loaded: {exc}") from None
    try:
        check_broker(configs.librdkafka)
    except BrokerUnreachable as exc:
        raise StartError(str(exc)) from None
    return configs


def preflight(settings: Settings) -> ClientConfigs:
    """The worker's checks: the state folder (when set), then the TLS files and the broker;
    :class:`StartError` on the first failure. Returns the client configurations."""
    if settings.worker.state_dir is not None:
        check_state_dir(settings.worker.state_dir)
    return broker_configs(settings.kafka)
