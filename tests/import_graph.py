"""The project's import graph, read from the source with ``ast`` (nothing is imported): which
module imports which, at module level or inside functions, for the layering test.

Test helper (importable from every test: ``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGE_FOLDERS", "REPO", "Import", "cycles", "imports_of", "project_modules"]

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("engine", "connector", "schemas", "workloads")
"""The repository folders that ``sparsiflow/`` links as its sub-packages."""


@dataclass(frozen=True)
class Import:
    """One imported module: ``lazy`` when inside a function, ``typing`` under TYPE_CHECKING."""

    module: str
    line: int
    lazy: bool
    typing: bool


def project_modules() -> dict[str, Path]:
    """``sparsiflow.*`` module name -> its file, for every module of the package."""
    found = {"sparsiflow": REPO / "sparsiflow" / "__init__.py"}
    found["sparsiflow.__main__"] = REPO / "sparsiflow" / "__main__.py"
    for folder in PACKAGE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(("sparsiflow", *(parts[:-1] if parts[-1] == "__init__" else parts)))
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> list[Import]:
    """Every module ``path`` (module ``name``) imports; ``from a import b`` counts as ``a.b``
    when that is a module in ``known``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return list(_walk(tree.body, package, known, lazy=False, typing=False))


def _walk(
    body: list[ast.stmt], package: str, known: set[str], lazy: bool, typing: bool
) -> Iterator[Import]:
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, lazy, typing)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(full if full in known else base, node.lineno, lazy, typing)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, package, known, lazy, True)
            yield from _walk(node.orelse, package, known, lazy, typing)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(node.body, package, known, True, typing)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    stmts = [s for s in inner if isinstance(s, ast.stmt)]
                    stmts += [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body]
                    yield from _walk(stmts, package, known, lazy, typing)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import), each
    sorted: every import cycle lies inside one (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    found.append(sorted(group))
    return found
