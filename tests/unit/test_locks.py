"""The lock files (requirements/*.txt, written by `make lock`): hash-pinned, in step with
pyproject.toml's bounds, one version per package across the locks, and used by every install
path (make dev, both images). A pyproject change without `make lock` fails here."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCKS = REPO / "requirements"


def _drift() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_drift", REPO / "scripts" / "lock_drift.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pins = _drift().pins


def _lock(name: str) -> dict[str, str]:
    return pins((LOCKS / name).read_text().splitlines())  # type: ignore[no-any-return]


def _project() -> dict[str, list[Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(r) for r in reqs] for group, reqs in groups.items()}


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("dev.txt", ["runtime", "dev", "bench"]), ("runtime.txt", ["runtime"]),
     ("gpu.txt", ["runtime", "gpu"])],
)  # fmt: skip
def test_each_lock_satisfies_pyproject(lock: str, groups: list[str]) -> None:
    locked = _lock(lock)
    project = _project()
    for group in groups:
        for req in project[group]:
            if req.marker is not None and not req.marker.evaluate():
                continue
            name = canonicalize_name(req.name)
            assert name in locked, f"{lock} lacks {req} ({group}): run `make lock`"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{lock} pins {name}=={locked[name]}, outside {req}: run `make lock`"
            )


@pytest.mark.parametrize("lock", ["runtime.txt", "gpu.txt", "build.txt"])
def test_every_lock_runs_the_versions_the_tests_ran(lock: str) -> None:
    dev = _lock("dev.txt")
    for name, version in _lock(lock).items():
        assert dev.get(name, version) == version, f"{lock}: {name} {version}, dev.txt {dev[name]}"


@pytest.mark.parametrize("lock", ["dev.txt", "runtime.txt", "gpu.txt", "build.txt", "uv.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (LOCKS / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])  # after the header
    pinned = [b for b in blocks if "==" in b.split("\n", 1)[0]]
    assert pinned, lock
    for block in pinned:
        assert "--hash=sha256:" in block, block.split("\n", 1)[0]


def test_pins_follow_markers() -> None:
    lines = [
        "numpy==2.4.6 ; python_full_version < '3.12' \\",
        "    --hash=sha256:00",
        "numpy==9.9 ; python_full_version >= '99' \\",
        "Faust_Streaming[rocksdb]==0.15.3 \\",
        "    # via sparsiflow",
    ]
    assert pins(lines) == {"numpy": "2.4.6", "faust-streaming": "0.15.3"}
