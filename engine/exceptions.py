"""The engine's error tree: one root, so callers can catch engine failures as a family; and
the one-line form of a failure that is reported instead of raised."""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "EngineError",
    "GraphFormatError",
    "InvalidUpdateError",
    "SnapshotError",
    "failure_reason",
]


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class InvalidUpdateError(EngineError, ValueError):
    """An update is malformed: self-loop, bad weight, bad node id, unknown op."""


class GraphFormatError(EngineError, ValueError):
    """A graph file cannot be read under sparsiflow's Matrix Market conventions."""


class BackendUnavailableError(EngineError, RuntimeError):
    """The requested array backend (e.g. CuPy) cannot be used on this machine."""


class SnapshotError(EngineError, ValueError):
    """An engine snapshot is corrupt, partial or of an unknown version."""


def failure_reason(kind: str, exc: BaseException) -> str:
    """A one-line reason ``kind: ExceptionName: message`` (message squeezed to one line and
    at most 200 characters; left out when empty), for logs, metrics events and labels."""
    message = " ".join(str(exc).split())[:200]
    name = type(exc).__name__
    return f"{kind}: {name}: {message}" if message else f"{kind}: {name}"
