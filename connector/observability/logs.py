"""The worker's log set-up, for Faust's ``mode`` logging: sparsiflow's lines at the chosen level
(INFO by default: the ready and progress lines), Faust, mode and aiokafka at WARNING and above
unless the level is DEBUG, and colour only when the log stream is a terminal.

mode decides on colour (and on the box-drawing tables Faust logs) by looking at *stdout* while
it writes the log to *stderr*: with stderr redirected to a file and stdout on a terminal, the
file got ANSI escape codes. Here both follow the stream actually written; ``NO_COLOR`` in the
environment turns colour off everywhere (colorlog honours it).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any, Final, cast

__all__ = ["LEVELS", "LIBRARY_LOGGERS", "logging_config", "setup_worker_logging"]

LEVELS: Final = ("debug", "info", "warning", "error")
LIBRARY_LOGGERS: Final = ("faust", "mode", "aiokafka", "kafka")
"""Loggers of the stream libraries: chatty at INFO (every service start, subscription tables)."""


def library_level(level: str) -> str:
    """The libraries' level for the worker's ``level``: DEBUG shows everything; otherwise no
    lower than WARNING."""
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}")
    if number <= logging.DEBUG:
        return "DEBUG"
    return logging.getLevelName(max(number, logging.WARNING))


def logging_config(level: str, stream: IO[str] | None = None) -> dict[str, Any]:
    """A ``logging_config`` for mode's ``setup_logging`` / ``faust.Worker``, merged into mode's
    own: its coloured formatter looks at ``stream`` (default stderr, where the log goes) to
    decide on colour, and the library loggers get :func:`library_level`. A fresh dict per call
    (mode consumes its ``merge`` key)."""
    from mode.utils.logging import DEFAULT_FORMATTERS

    colored = {
        **cast("dict[str, Any]", DEFAULT_FORMATTERS["colored"]),
        "stream": stream or sys.stderr,
    }
    libraries = library_level(level)
    return {
        "merge": True,
        "formatters": {"colored": colored},
        "loggers": {name: {"level": libraries} for name in LIBRARY_LOGGERS},
    }


def setup_worker_logging(level: str) -> None:
    """Configure logging now as ``faust.Worker`` will (so the lines before it starts share the
    format and level), and make mode's tables follow stderr too."""
    from mode.utils import logging as mode_logging

    mode_logging.setup_logging(
        loglevel=level.upper(), logfile=sys.stderr, logging_config=logging_config(level)
    )
