"""The kernel cache: which folder Numba caches in, the copy of an image's compiled kernels,
the warm marker, and (slow) a fresh process that loads every kernel without compiling one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparsiflow.engine import kernel_cache
from sparsiflow.engine.kernel_cache import (
    MARKER,
    configure,
    kernel_dir,
    mark_warm,
    project_cache_dir,
    source_key,
    status,
)

KEY = source_key()


def test_the_project_cache_is_sparsiflow_cache_dir_else_the_xdg_cache(tmp_path: Path) -> None:
    assert project_cache_dir({"SPARSIFLOW_CACHE_DIR": str(tmp_path)}) == tmp_path.resolve()
    assert project_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/sparsiflow")
    assert project_cache_dir({}) == Path.home() / ".cache" / "sparsiflow"


def test_kernels_go_to_numba_cache_dir_when_set_else_a_folder_per_source_version(
    tmp_path: Path,
) -> None:
    assert kernel_dir({"NUMBA_CACHE_DIR": "/n", "SPARSIFLOW_CACHE_DIR": "/s"}) == Path("/n")
    assert kernel_dir({"SPARSIFLOW_CACHE_DIR": str(tmp_path)}) == tmp_path / "numba" / KEY
    assert kernel_dir({"XDG_CACHE_HOME": "/x"}) == Path(f"/x/sparsiflow/numba/{KEY}")
    assert kernel_dir({"NUMBA_CACHE_DIR": ""}, key="k") == project_cache_dir({}) / "numba" / "k"


def test_the_source_key_follows_every_kernel_source(tmp_path: Path) -> None:
    for package in ("engine", "workloads"):
        (tmp_path / package / "sub").mkdir(parents=True)
        (tmp_path / package / "sub" / "kernels.py").write_text("x = 1\n")
    before = source_key(tmp_path)
    (tmp_path / "workloads" / "sub" / "kernels.py").write_text("x = 2\n")
    assert source_key(tmp_path) != before
    (tmp_path / "engine" / "notes.txt").write_text("not a source")
    assert len(source_key(tmp_path)) == 16


def test_configure_points_numba_at_the_folder(tmp_path: Path) -> None:
    env = {"SPARSIFLOW_CACHE_DIR": str(tmp_path)}
    folder = configure(env)
    assert folder == tmp_path / "numba" / KEY
    assert env["NUMBA_CACHE_DIR"] == str(folder)
    assert configure(env) == folder  # once set, it stays


def test_configure_keeps_the_users_numba_cache_dir(tmp_path: Path) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "SPARSIFLOW_CACHE_DIR": str(tmp_path)}
    assert configure(env) == tmp_path / "mine"
    assert env["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_the_running_process_was_configured_before_numba_defined_a_kernel() -> None:
    import numba
    from numba.core.dispatcher import Dispatcher

    from sparsiflow.engine.store import layout

    assert os.environ["NUMBA_CACHE_DIR"] == numba.config.CACHE_DIR
    kernel = next(v for v in vars(layout).values() if isinstance(v, Dispatcher))
    locator = kernel._cache._impl.locator  # Numba's choice, made when the kernel was defined
    assert Path(locator.get_cache_path()).is_relative_to(os.environ["NUMBA_CACHE_DIR"])


def _image(tmp_path: Path) -> Path:
    """A prebuilt kernel folder as an image holds it: ``<numba>/<key>/...`` with a marker."""
    built = tmp_path / "image" / "numba" / KEY
    (built / "store_1").mkdir(parents=True)
    (built / "store_1" / "layout.g_find-1.py311.nbi").write_bytes(b"index")
    (built / "store_1" / "layout.g_find-1.py311.1.nbc").write_bytes(b"code")
    (built / MARKER).write_text("{}")
    return built.parent


def test_an_images_kernels_are_copied_into_the_writable_folder(tmp_path: Path) -> None:
    image = _image(tmp_path)
    folder = configure(
        {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "run"), "SPARSIFLOW_PREBUILT_KERNELS": str(image)}
    )
    assert (folder / "store_1" / "layout.g_find-1.py311.1.nbc").read_bytes() == b"code"
    assert (folder / MARKER).exists()
    assert sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp")) == []


def test_the_copy_keeps_newer_files_and_stops_once_the_marker_is_there(tmp_path: Path) -> None:
    image = _image(tmp_path)
    folder = tmp_path / "run" / "numba" / KEY
    (folder / "store_1").mkdir(parents=True)
    newer = folder / "store_1" / "layout.g_find-1.py311.nbi"
    newer.write_bytes(b"index with one more overload")  # written after the image's
    env = {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "run"), "SPARSIFLOW_PREBUILT_KERNELS": str(image)}
    configure(env)
    assert newer.read_bytes() == b"index with one more overload"
    (image / KEY / "store_1" / "more.nbi").write_bytes(b"")
    configure({**env, "NUMBA_CACHE_DIR": ""})
    assert not (folder / "store_1" / "more.nbi").exists()  # the marker says it is complete


def test_an_image_of_other_sources_or_none_is_not_copied(tmp_path: Path) -> None:
    image = _image(tmp_path)
    (image / KEY).rename(image / "0123456789abcdef")
    env = {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "run"), "SPARSIFLOW_PREBUILT_KERNELS": str(image)}
    assert not (configure(env) / MARKER).exists()
    missing = {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "b"), "SPARSIFLOW_PREBUILT_KERNELS": "/nope"}
    assert not configure(missing).exists()


def test_old_source_versions_are_pruned_beyond_the_newest_few(tmp_path: Path) -> None:
    parent = tmp_path / "numba"
    for age in range(6):
        old = parent / f"v{age}"
        old.mkdir(parents=True)
        os.utime(old, (1e9 - age, 1e9 - age))  # 2001: all long untouched
    recent = parent / "recent"
    recent.mkdir()
    configure({"SPARSIFLOW_CACHE_DIR": str(tmp_path)})
    assert sorted(p.name for p in parent.iterdir()) == ["recent", "v0", "v1", "v2"]


def test_status_reads_the_marker_without_compiling(tmp_path: Path) -> None:
    assert status(tmp_path) == kernel_cache.CacheStatus(tmp_path, False, "no compiled kernels yet")
    (tmp_path / "store_1").mkdir()
    (tmp_path / "store_1" / "a.nbi").write_bytes(b"")
    mark_warm(1.0, tmp_path)
    marker = json.loads((tmp_path / MARKER).read_text())
    assert marker["indexes"] == ["store_1/a.nbi"]
    assert status(tmp_path).warm
    (tmp_path / "store_1" / "a.nbi").unlink()
    assert status(tmp_path).reason == "1 cached kernels are missing"
    (tmp_path / MARKER).write_text(json.dumps({**marker, "target": ["t", "other-cpu", ""]}))
    assert "compiled for CPU 'other-cpu'" in status(tmp_path).reason
    (tmp_path / MARKER).write_text(json.dumps({**marker, "sources": "/elsewhere"}))
    assert status(tmp_path).reason == "compiled for the sources in /elsewhere"
    (tmp_path / MARKER).write_text(json.dumps({**marker, "key": "0" * 16}))
    assert status(tmp_path).reason == "the kernels' sources changed"


def test_warmup_check_reports_a_cold_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from sparsiflow.connector.cli.main import main

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["warmup", "--check"])
    assert result.exit_code == 1
    assert result.output == f"cold: no compiled kernels yet ({tmp_path})\n"


_LOAD_ALL = """
import json
from sparsiflow.connector.warmup import warm_up_all
from sparsiflow.engine import kernel_cache
cold = kernel_cache.status()
done = warm_up_all()
print(json.dumps({"warm": cold.warm, "loaded": done.loaded, "compiled": done.compiled}))
"""


def _fresh(env: dict[str, str]) -> dict[str, int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "SPARSIFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_ALL], env=base | env, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _cached_kernels() -> list[str]:
    """Start of the index file name of every cached kernel the package defines (helpers inlined
    into their callers have none)."""
    import importlib
    import pkgutil

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    import sparsiflow.engine
    import sparsiflow.workloads

    names = []
    for package in (sparsiflow.engine, sparsiflow.workloads):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            for value in vars(importlib.import_module(info.name)).values():
                if (
                    isinstance(value, Dispatcher)
                    and value.py_func.__module__ == info.name
                    and not isinstance(value._cache, NullCache)
                    and value.targetoptions.get("inline") != "always"
                ):
                    code = value.py_func.__code__
                    stem = Path(code.co_filename).stem
                    names.append(f"{stem}.{value.py_func.__qualname__}-{code.co_firstlineno}.py")
    return sorted(names)


@pytest.mark.slow
def test_a_warm_up_compiles_every_kernel_and_a_fresh_process_then_compiles_none(
    tmp_path: Path,
) -> None:
    """As an image build: warm up into an empty folder (every kernel compiled: about 30 s),
    offer it read-only as the prebuilt kernels; a new process with an empty cache folder then
    runs every kernel and loads them all, compiling none."""
    build = {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "build")}
    built = _fresh(build)
    assert not built["warm"]
    assert built["compiled"] > 0
    folder = kernel_dir(build)
    indexes = [p.name for p in folder.rglob("*.nbi")]
    kernels = _cached_kernels()
    assert len(kernels) >= 50
    assert [k for k in kernels if not any(i.startswith(k) for i in indexes)] == []
    subprocess.run(["chmod", "-R", "a-w", str(folder.parent)], check=True)
    try:
        run = {"SPARSIFLOW_CACHE_DIR": str(tmp_path / "run")}
        loaded = _fresh(run | {"SPARSIFLOW_PREBUILT_KERNELS": str(folder.parent)})
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(folder.parent)], check=True)
    assert loaded["warm"]
    assert loaded["compiled"] == 0
    assert loaded["loaded"] >= 20
