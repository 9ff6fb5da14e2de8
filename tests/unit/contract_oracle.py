"""Slow, obviously-correct reference of the edge-update contract: the JSON Schema file checked
with ``jsonschema`` plus the rules the schema cannot say. The test oracle for the fast decoder."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sparsiflow import schemas

__all__ = ["accepts", "beyond_schema_ok", "validator"]


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schemas.load_schema(name))


def beyond_schema_ok(doc: dict[str, Any]) -> bool:
    """Equal lengths, no self-loops, a non-null finite weight on every insert/reweight row."""
    if "ops" in doc:
        n = len(doc["ops"])
        columns = [doc[k] for k in ("u", "v", "w") if k in doc]
        if any(len(c) != n for c in columns):
            return False
        weights = doc.get("w", [None] * n)
        rows: Iterable[tuple[Any, ...]] = zip(doc["ops"], doc["u"], doc["v"], weights, strict=True)
    else:
        rows = iter([(doc["op"], doc["u"], doc["v"], doc.get("w"))])
    for op, u, v, w in rows:
        if u == v:
            return False
        if w is not None and not math.isfinite(w):
            return False
        if op != "delete" and w is None:
            return False
    return True


def accepts(doc: Any) -> bool:
    """Whether a parsed event satisfies the whole contract."""
    return bool(validator("edge-update").is_valid(doc)) and beyond_schema_ok(doc)
