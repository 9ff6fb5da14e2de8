"""The architecture as a test over the import graph (read with ``ast``): the engine imports no
connector, workload, Kafka, Faust, Prometheus, click or wire-format library; workloads import no
connector; nothing imports the repository folders by their bare names (only ``sparsiflow.*``);
no import cycle anywhere, typing-only and function-local imports included."""

from __future__ import annotations

from pathlib import Path

import pytest
from import_graph import REPO, Import, cycles, imports_of, project_modules

MODULES = project_modules()
KNOWN = set(MODULES)
IMPORTS = {name: imports_of(path, name, KNOWN) for name, path in MODULES.items()}

CLIENTS = ("faust", "mode", "confluent_kafka", "aiokafka", "prometheus_client", "click")
FORBIDDEN = {
    "sparsiflow.engine": (
        "sparsiflow.connector", "sparsiflow.workloads", "sparsiflow.schemas", *CLIENTS,
        "orjson", "fast_matrix_market", "pydantic", "pydantic_settings",
    ),
    "sparsiflow.workloads": ("sparsiflow.connector", *CLIENTS),
    "sparsiflow.schemas": ("sparsiflow.engine", "sparsiflow.connector", "sparsiflow.workloads"),
}  # fmt: skip
BARE = ("engine", "connector", "schemas", "workloads")


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(imports: dict[str, list[Import]]) -> list[str]:
    """``module:line imports target`` for every import a layer must not make."""
    found = []
    for name, items in imports.items():
        for layer, banned in FORBIDDEN.items():
            if not _under(name, layer):
                continue
            for item in items:
                if any(_under(item.module, b) for b in banned):
                    found.append(f"{name}:{item.line} imports {item.module}")
    return found


def test_layers_import_only_downwards() -> None:
    assert violations(IMPORTS) == []


def test_the_check_catches_a_violation() -> None:
    bad = {"sparsiflow.engine.x": [Import("sparsiflow.connector.stream.processor", 3, True, False)]}
    assert violations(bad) == [
        "sparsiflow.engine.x:3 imports sparsiflow.connector.stream.processor"
    ]


def test_no_import_cycles() -> None:
    edges = {
        name: {i.module for i in items if i.module in KNOWN} for name, items in IMPORTS.items()
    }
    assert cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(cycles(edges)) == [["a", "b", "c"], ["e"]]


@pytest.mark.parametrize("root", ["sparsiflow", *BARE, "tests", "bench", "scripts"])
def test_nothing_imports_the_folders_by_their_bare_names(root: str) -> None:
    """``import engine`` would load a second copy of the package beside ``sparsiflow.engine``."""
    folder = REPO / root
    offenders = []
    for path in sorted(folder.rglob("*.py")):
        name = ".".join(("sparsiflow", *path.relative_to(REPO).with_suffix("").parts))
        for item in imports_of(path, name, KNOWN):
            if item.module.split(".")[0] in BARE:
                offenders.append(f"{path.relative_to(REPO)}:{item.line} imports {item.module}")
    assert offenders == []


def test_every_module_is_in_the_package() -> None:
    """The package folder links exactly the repository's package folders."""
    links = {p.name: p.resolve() for p in (REPO / "sparsiflow").iterdir() if p.is_symlink()}
    assert links == {name: (REPO / name).resolve() for name in BARE}
    assert all(Path(MODULES[m]).is_file() for m in MODULES)
