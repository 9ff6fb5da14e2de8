"""Print how an environment's versions (``pip freeze`` lines on stdin) differ from a lock file:
the packages `make lock` would move. Usage: ``uv pip freeze | python lock_drift.py LOCK``.

Lock lines for another interpreter (environment markers that do not hold here) are skipped.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lines: list[str]) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines whose markers hold here."""
    found = {}
    for line in lines:
        match = _PIN.match(line.strip())
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def main() -> int:
    locked = pins(Path(sys.argv[1]).read_text().splitlines())
    latest = pins(sys.stdin.read().splitlines())
    moved = {name: (locked.get(name), v) for name, v in latest.items() if locked.get(name) != v}
    moved.pop("sparsiflow", None)
    if not moved:
        print(f"lock drift: none (the newest allowed versions are those in {sys.argv[1]})")
    for name, (old, new) in sorted(moved.items()):
        print(f"lock drift: {name} {old or '(not locked)'} -> {new}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
