"""Fail fast, in one line, when the broker cannot be reached: a bounded metadata request before a
command's real work, with librdkafka's own logging silenced (left alone, a client facing a dead
address prints a ``%3|...|FAIL|...`` line per reconnect, hundreds in half a minute).

:func:`check_broker` raises :class:`BrokerUnreachable` with the address and librdkafka's reason
(``Connection refused``, a name that does not resolve, an authentication or TLS failure, or no
answer at all) within ``timeout`` seconds, sooner when every broker is reported down.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DOWN_GRACE_SECONDS",
    "PROBE_SECONDS",
    "BrokerUnreachable",
    "check_broker",
    "kafka_reason",
    "quiet",
]

PROBE_SECONDS = 8.0
"""Longest wait for a broker's answer (a host that drops packets gives no error at all)."""
DOWN_GRACE_SECONDS = 3.0
"""Once librdkafka reports every broker down (refused, unresolvable), how long to keep trying:
a broker that is just starting gets this long to open its port."""

_SILENT = logging.Logger("sparsiflow.librdkafka-silent")
_SILENT.disabled = True  # a logger outside the hierarchy that drops every record
_FATAL = {"_AUTHENTICATION", "_SSL", "SASL_AUTHENTICATION_FAILED", "_INVALID_ARG"}
_PREFIX = re.compile(r"^\S+/(?:bootstrap|\d+|\w+): ")
_SUFFIX = re.compile(
    r"(?: \(after \d+ms in state \w+\))?(?:, \d+ identical error\(s\) suppressed)?$"
)


class BrokerUnreachable(RuntimeError):
    """No broker of the bootstrap list answered (the message is one line, for operators)."""


def quiet(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with librdkafka's log lines dropped (errors still reach ``error_cb`` and the
    calls' exceptions)."""
    return {**config, "logger": _SILENT}


def kafka_reason(error: BaseException | str) -> str:
    """One line for a librdkafka error (a KafkaException, or an error's text), without the
    broker prefix and state suffix: ``"h:1/bootstrap: Connect to ipv4#h:1 failed: Connection
    refused (after 0ms in state CONNECT)"`` -> ``"Connect to ipv4#h:1 failed: Connection
    refused"``."""
    text = error if isinstance(error, str) else _error_text(error)
    return " ".join(_SUFFIX.sub("", _PREFIX.sub("", text.strip(), count=1)).split())


def check_broker(
    config: Mapping[str, Any],
    timeout: float = PROBE_SECONDS,
    grace: float = DOWN_GRACE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once a broker of ``config["bootstrap.servers"]`` answers a metadata request;
    raise :class:`BrokerUnreachable` after ``timeout`` seconds, ``grace`` seconds after every
    broker was reported down, or at once on an authentication or TLS failure."""
    from confluent_kafka.admin import AdminClient

    bootstrap = str(config.get("bootstrap.servers", ""))
    protocol = str(config.get("security.protocol", "plaintext")).upper()
    where = bootstrap if protocol == "PLAINTEXT" else f"{bootstrap} ({protocol})"
    errors: list[Any] = []
    admin = AdminClient({**quiet(config), "error_cb": errors.append})  # type: ignore[dict-item]
    start = clock()
    down_since: float | None = None
    reason = ""
    while True:
        try:
            admin.list_topics(timeout=min(0.5, max(timeout - (clock() - start), 0.1)))
            return
        except Exception:  # a KafkaException ("Failed to get metadata"); error_cb says why
            pass
        admin.poll(0)  # serves error_cb
        for error in errors:
            name = error.name()
            if name == "_ALL_BROKERS_DOWN":
                down_since = clock() if down_since is None else down_since
            else:
                reason = kafka_reason(error.str())
                if name in _FATAL:
                    raise BrokerUnreachable(f"cannot reach the Kafka broker at {where}: {reason}")
        errors.clear()
        now = clock()
        if now - start >= timeout:
            detail = reason or f"no answer within {timeout:g} s"
            raise BrokerUnreachable(f"cannot reach the Kafka broker at {where}: {detail}")
        if down_since is not None and now - down_since >= grace:
            detail = reason or "every broker is down"
            raise BrokerUnreachable(f"cannot reach the Kafka broker at {where}: {detail}")


def _error_text(exc: BaseException) -> str:
    """The message of a KafkaException (its KafkaError's text), or of any exception."""
    first = exc.args[0] if exc.args else None
    text = getattr(first, "str", None)
    return str(text()) if callable(text) else str(exc) or type(exc).__name__
