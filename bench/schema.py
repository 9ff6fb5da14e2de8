"""The result file's contract (``result.schema.json``) and JSON-safe conversion."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import numpy as np

__all__ = ["SCHEMA_ID", "json_ready", "validate"]

SCHEMA_ID = "sparsiflow-bench/1"


@cache
def _validator() -> Callable[[Any], Any]:
    schema = json.loads((Path(__file__).parent / "result.schema.json").read_text())
    return fastjsonschema.compile(schema)


def validate(result: dict[str, Any]) -> None:
    """Raise ``fastjsonschema.JsonSchemaException`` unless ``result`` fits the schema."""
    _validator()(result)


def json_ready(value: Any) -> Any:
    """Plain JSON types: NumPy scalars unwrapped, non-finite floats to None, keys to str."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
