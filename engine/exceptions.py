"""The engine's error tree: one root, so callers can catch engine failures as a family."""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "EngineError",
    "GraphFormatError",
    "InvalidUpdateError",
    "SnapshotError",
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
