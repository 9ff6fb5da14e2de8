"""How a benchmark hands over its result: JSON on stdout, and in a file when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["emit"]


def emit(result: dict[str, Any], out: Path | None) -> int:
    """Print ``result`` as indented JSON and write it to ``out`` (folders created) when given;
    returns the exit status, 0."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return 0
