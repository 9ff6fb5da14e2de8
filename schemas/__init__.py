"""Versioned JSON Schema contracts of every sparsiflow event (data files in this package).

``load_schema("edge-update")`` returns the parsed schema of the newest version;
``load_schema("edge-update", version=1)`` a given one. ``samples()`` lists the golden sample
events shipped under ``samples/``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

__all__ = ["SCHEMA_NAMES", "load_schema", "samples", "schema_text"]

SCHEMA_NAMES = (
    "edge-update",
    "sparsifier-delta",
    "sparsifier-edge",
    "quality-metrics",
    "dlq-envelope",
)
"""Every contract in this folder, one file ``NAME.vN.json`` per version."""

_LATEST = 1


def schema_text(name: str, version: int = _LATEST) -> str:
    """The schema file's text; raises KeyError for an unknown name or version."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    resource = files(__name__) / f"{name}.v{version}.json"
    if not resource.is_file():
        raise KeyError(f"schema {name!r} has no version {version}")
    return resource.read_text(encoding="utf-8")


def load_schema(name: str, version: int = _LATEST) -> dict[str, Any]:
    """The parsed JSON Schema (draft 2020-12) of event ``name``."""
    parsed: dict[str, Any] = json.loads(schema_text(name, version))
    return parsed


def samples(name: str, kind: str) -> list[Traversable]:
    """Sample event files of ``name``; ``kind`` is ``good`` or ``bad``, sorted by file name.

    Bad edge-update samples are named ``<reason>--<what>.json``: the DLQ reason the worker gives.
    """
    if name not in SCHEMA_NAMES or kind not in ("good", "bad"):
        raise KeyError(f"no samples for {name!r}/{kind!r}")
    folder = files(__name__) / "samples" / name / kind
    return sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
