"""Where the engine's compiled Numba kernels are cached, and whether they are there.

Every kernel is ``@nb.njit(cache=True)``: compiled once (about 30 s for all of them), then
loaded from a cache folder in about a second. Left to itself Numba caches beside the sources
(``__pycache__``, not writable in an installed image) or in ``$NUMBA_CACHE_DIR``, and keys each
entry by its own source file only, so an edit to a helper inlined from another file would leave
its callers' cached code stale. So :func:`configure` (called by ``import sparsiflow``, before
any kernel is defined) points Numba, once, at a folder the project controls:

* ``$NUMBA_CACHE_DIR`` when the user set it;
* else ``<project cache>/numba/<key>``, the project cache being ``$SPARSIFLOW_CACHE_DIR`` or
  ``$XDG_CACHE_HOME/sparsiflow`` (``~/.cache/sparsiflow``), and ``key`` a hash of the sources of
  the packages that hold kernels (engine, workloads): an edit there starts a new folder.

Numba reads and writes only a cache folder it can write to. An image compiles its kernels at
build time (``sparsiflow warmup`` with ``SPARSIFLOW_CACHE_DIR`` set to a folder of the image)
and names that folder's ``numba`` in ``$SPARSIFLOW_PREBUILT_KERNELS``; :func:`configure` copies
its ``<key>`` folder into the (writable) cache folder when the marker is missing there, so a
read-only root filesystem costs a copy of a few MB, not a compilation. Kernels compiled for one
CPU are not loaded on another (Numba keys them by CPU name and features): images compile for
``NUMBA_CPU_NAME=generic``.

Numba files a kernel's code under the path of its source folder too, so an image must install
the package at the same path at build and run time (it copies its ``/opt/venv`` whole).

A full warm-up leaves a marker (:func:`mark_warm`) naming the sources, the CPU target and the
index files it left; :func:`status` reads it to tell, without compiling anything, whether a run
will compile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENVIRONMENT",
    "MARKER",
    "CacheStatus",
    "compile_counts",
    "configure",
    "kernel_dir",
    "mark_warm",
    "project_cache_dir",
    "source_key",
    "status",
]

MARKER = "sparsiflow-kernels.json"
"""File a full warm-up leaves in the kernel folder."""
_CACHE_DIR = "SPARSIFLOW_CACHE_DIR"
_PREBUILT = "SPARSIFLOW_PREBUILT_KERNELS"
ENVIRONMENT = (_CACHE_DIR, _PREBUILT)
"""The variables read here, at import, outside the worker's settings classes."""
_PACKAGE = Path(__file__).resolve().parent.parent
_KERNEL_PACKAGES = ("engine", "workloads")
_KEEP_FOLDERS = 4  # kernel folders of other source versions kept beside the current one
_PRUNE_AFTER_S = 86_400.0  # ... and only those untouched for a day are removed


def project_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The project's cache folder: ``$SPARSIFLOW_CACHE_DIR`` or the XDG cache's ``sparsiflow``."""
    explicit = environ.get(_CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sparsiflow"


def source_key(package: Path = _PACKAGE) -> str:
    """Hash of every source file of the packages that define kernels (16 hex digits)."""
    digest = hashlib.sha256()
    for name in _KERNEL_PACKAGES:
        root = package / name
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def kernel_dir(environ: Mapping[str, str] = os.environ, key: str | None = None) -> Path:
    """Numba's cache folder for this package: ``$NUMBA_CACHE_DIR`` when set, else
    ``<project cache>/numba/<source key>``."""
    explicit = environ.get("NUMBA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return project_cache_dir(environ) / "numba" / (key or source_key())


def configure(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Point Numba's cache at :func:`kernel_dir` (in ``environ``, so worker subprocesses
    inherit it, and in Numba's live config when Numba is already imported), filled from
    ``$SPARSIFLOW_PREBUILT_KERNELS`` when that holds this version's kernels; returns the folder.
    Must run before a kernel module is imported: Numba picks a kernel's cache folder when the
    kernel is defined."""
    key = source_key()
    folder = kernel_dir(environ, key)
    prebuilt = environ.get(_PREBUILT)
    with contextlib.suppress(OSError):  # no writable cache: Numba then compiles every run
        if not environ.get("NUMBA_CACHE_DIR") and not folder.exists():
            _prune(folder.parent)
        if prebuilt and not (folder / MARKER).exists():
            _copy_missing(Path(prebuilt) / key, folder)
    environ["NUMBA_CACHE_DIR"] = str(folder)
    config = sys.modules.get("numba.core.config")
    if config is not None and environ is os.environ:
        config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]
    return folder


def _copy_missing(source: Path, target: Path) -> None:
    """Copy the files of ``source`` that ``target`` lacks or holds older (each file written
    under a temporary name, then renamed: a concurrent reader sees all of it or nothing)."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*"), key=lambda p: p.name == MARKER):  # marker last
        if not path.is_file():
            continue
        dest = target / path.relative_to(source)
        if dest.exists() and dest.stat().st_mtime >= path.stat().st_mtime:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copy2(path, partial)
        partial.replace(dest)


def _prune(parent: Path) -> None:
    """Remove kernel folders of other source versions beyond the newest few, once untouched
    for a day."""
    if not parent.is_dir():
        return
    folders = sorted(
        (p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in folders[_KEEP_FOLDERS:]:
        if time.time() - old.stat().st_mtime > _PRUNE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)


def _target() -> list[str]:
    """What Numba keys compiled code by besides the source: triple, CPU name, CPU features."""
    from numba.core.registry import cpu_target

    return [str(part) for part in cpu_target.target_context.codegen().magic_tuple()]


def _indexes(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.nbi"))


@dataclass(frozen=True)
class CacheStatus:
    """Whether the kernels can be loaded from ``folder``; ``reason`` says why not."""

    folder: Path
    warm: bool
    reason: str


def status(folder: Path | None = None) -> CacheStatus:
    """Whether a full warm-up's kernels are in the cache folder for this CPU target (reads the
    marker and checks its index files are still there; compiles nothing)."""
    folder = folder or kernel_dir()
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return CacheStatus(folder, False, "no compiled kernels yet")
    if marker.get("key") != source_key():
        return CacheStatus(folder, False, "the kernels' sources changed")
    if marker.get("sources") != str(_PACKAGE):  # Numba keys its folders by the source path
        return CacheStatus(folder, False, f"compiled for the sources in {marker.get('sources')}")
    target = _target()
    if marker.get("target") != target:
        cpu = marker.get("target", ["", "?"])[1]
        return CacheStatus(folder, False, f"compiled for CPU {cpu!r}, this is {target[1]!r}")
    missing = [name for name in marker.get("indexes", []) if not (folder / name).is_file()]
    if missing:
        return CacheStatus(folder, False, f"{len(missing)} cached kernels are missing")
    return CacheStatus(folder, True, "compiled kernels found")


def mark_warm(seconds: float, folder: Path | None = None) -> None:
    """Record that a full warm-up just left every kernel in the cache folder."""
    folder = folder or kernel_dir()
    import numba

    data: dict[str, Any] = {
        "key": source_key(),
        "sources": str(_PACKAGE),
        "target": _target(),
        "numba": numba.__version__,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "seconds": round(seconds, 2),
        "indexes": _indexes(folder),
    }
    partial = folder / f".{MARKER}.{os.getpid()}.tmp"
    folder.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(folder / MARKER)


def _dispatchers() -> Iterator[Any]:
    """Every Numba dispatcher defined by a loaded module of this package."""
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if name.startswith("sparsiflow.") and module is not None:
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher) and value.py_func.__module__ == name:
                    yield value


def compile_counts() -> tuple[int, int]:
    """(loaded from the cache, compiled) kernel versions in this process so far."""
    loaded = compiled = 0
    for dispatcher in _dispatchers():
        loaded += sum(dispatcher.stats.cache_hits.values())
        compiled += sum(dispatcher.stats.cache_misses.values())
    return loaded, compiled
